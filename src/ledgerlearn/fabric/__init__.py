"""Running the learning contract on a real Hyperledger Fabric network.

- :mod:`~ledgerlearn.fabric.package`: chaincode-as-a-service packages for
  ``peer lifecycle chaincode install``, and their package ids.
- :mod:`~ledgerlearn.fabric.server`: the contract class served to peers with
  fabric-chaincode-python, with the replies of concurrent transactions serialized
  (:mod:`~ledgerlearn.fabric.handler`).
- :mod:`~ledgerlearn.fabric.peer_sim`: the peer's side of the chaincode stream, to drive a
  chaincode server in tests as a Fabric peer does.
- :mod:`~ledgerlearn.fabric.connection`: connection files for clients of a Fabric gateway.

Modules import grpc and the chaincode library; import them where they are used.
"""
