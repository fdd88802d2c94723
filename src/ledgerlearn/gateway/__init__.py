"""Fabric's Gateway gRPC API: the service in front of an embedded network, and a client for it.

``service/`` answers Evaluate, Endorse, Submit, CommitStatus and ChaincodeEvents as a Fabric
peer's gateway does (``server`` runs it over TLS; ``deployment`` is what ``ledgerlearn network
up/down/status`` do with a folder); ``client/`` is the Python Gateway client that speaks the same
protocol to the embedded gateway or to a real Fabric peer; ``errors`` is shared by both. The
participants that use the client are ``ledgerlearn.participants``.
"""
