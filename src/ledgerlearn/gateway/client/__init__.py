"""The Gateway client: Fabric's Gateway API spoken to the embedded gateway or a real Fabric peer."""
