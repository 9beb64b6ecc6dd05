"""Tamis's service layer: the `tamis` command line (service.commands), the gRPC server
(service.server, which reads listing messages into the engine's JSON contract in one module,
convert), the verdict log (service.verdictlog), and a verdict's JSON and proto forms, both ways,
in one module (service.verdictforms); see ARCHITECTURE.md for a listing's flow."""
