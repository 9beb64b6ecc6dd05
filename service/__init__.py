"""Tamis's service layer: the `tamis` command line, the gRPC server and the verdict log."""
