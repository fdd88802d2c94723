"""The Gateway service: Fabric's Gateway gRPC API in front of an embedded network, over TLS."""
