"""The embedded ledger: Fabric's execute-order-validate flow with Fabric's own messages."""
