"""The gRPC server of Tamis: PolicyService, health and reflection over the engine.

Modules, one idea each: `config` (options from flags, environment and TOML), `convert`
(listing and bundle messages ⇄ the engine's JSON contract), `status` (gRPC errors with details), `live` (the
evaluator in use, swapped atomically), `reload` (watching the policy directory), `sink` (where
verdicts are recorded before they are acknowledged), `policy_service` (the RPCs), `logs`
(structured request logs), `app` (one server process), `workers` (several processes on one port),
`calls` (an interceptor seeing every call start and end), `metrics` (Prometheus), `tracing`
(OpenTelemetry, optional).
"""
