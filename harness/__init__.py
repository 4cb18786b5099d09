"""The load-test harness: simulated appliances and fleets, the real processes they run, and the
sync benchmark (`sohoa server bench-sync`).

For `bench/` and the integration tests, not for an appliance or a server in production. It
drives edge and server together, so it may import both; nothing in `edge`, `server`,
`provisioning` or `support` imports it, and `cli` only registers `bench-sync` as a thin entry
into it (as PostgreSQL ships `pgbench`). Its benchmarks import paho directly, and only for
their anchor: raw paho throughput through the same broker, which must not go through our
adapter (`support.mqtt`, the product's only paho importer) to be a fair baseline.

- `fleet`: a province on one machine (`provisioning.province`) with N appliances enrolled on one
  token and registered with the repository.
- `results`: realistic results signed on that token, put in the appliances' outboxes.
- `processes`: the `sohoa edge sync` agents and the `sohoa server run|ingest` processes
  (`server.process.ServerProcess`) a test starts, kills and restarts; `wait_for`; /proc figures.
- `broker`: the private Mosquitto, restartable (or crashed) on the same port.
- `postgres`: a throw-away PostgreSQL cluster (the benchmark's and the test fixture's).
- `audit`: what reached the repository: every result once, every signature valid.
- `bench_sync`, `bench_agents`, `bench_command`: the sync benchmark, its agents' processes, and
  its command line.
- `errors`: `HarnessError`.
"""
