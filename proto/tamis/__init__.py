"""Tamis's gRPC API, generated from the protos beside this package (`make proto`)."""
