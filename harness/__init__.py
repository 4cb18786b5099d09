"""The load-test harness: simulated appliances and fleets, the real processes they run, and the
sync benchmark (`sohoa server bench-sync`).

For `bench/` and the integration tests, not for an appliance or a server in production: it
provisions a province on one machine (`fleet`), signs realistic results for it (`results`),
runs and kills the real `sohoa` processes, Mosquitto and PostgreSQL (`processes`, `broker`,
`postgres`), and checks what reached the repository (`audit`). It drives edge and server
together, so it may import both; nothing in `edge`, `server`, `provisioning` or `support`
imports it, and `cli` only registers `bench-sync` as a thin entry into it (as PostgreSQL ships
`pgbench`).
"""
