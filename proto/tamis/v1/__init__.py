"""tamis.v1: the generated messages and stubs of the Tamis API (`make proto`; do not edit the *_pb2 files)."""
