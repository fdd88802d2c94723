"""The learning contract, written with fabric-chaincode-python's Contract API."""
