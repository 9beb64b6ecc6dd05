"""Tamis's service layer: the `tamis` command line (service.commands), the gRPC server
(service.server, which converts messages to the engine's JSON contract in one module, convert)
and the verdict log (service.verdictlog); see ARCHITECTURE.md for a listing's flow."""
