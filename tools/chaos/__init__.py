"""`make chaos` (`python -m tools.chaos`): the suite under load while its processes are killed
and its servers restarted, then the conservation checks. An operator's tool, never a test of
`make test`: it runs on a PostgreSQL cluster and a RabbitMQ node of its own (servers.py), which
it restarts at will and removes at the end; the machine's servers are never touched.

1. Private servers (deploy/local/infra.sh with `.local/chaos/` and other ports), the five
   services and the fake payment provider each a process (suite.py), a tap queue on the events
   exchange, callers, members, a plan and gift cards (setup.py). What the end-to-end test does
   alike (the processes, the callers, the back-office procedure) is tools/suite's.
2. For CHAOS_SECONDS, clients that keep the ids of what they send (book.py): points earned and
   spent with holds, a storefront's orders, completions and reviews (load_points.py), gift-card
   holds captured or released, memberships bought three ways, registrations
   (load_others.py); meanwhile the faults of a seeded schedule (faults.py).
3. Quiesce: outboxes empty and queues drained; every acknowledged request replayed (the same
   answer) and every acknowledged event published again; quiesce again.
4. The checks (checks_api.py over gRPC; checks_bus.py and checks_events.py on the outboxes,
   the tap, dead letters and reconciliations) and the table (report.py). Exit 1 when a check
   fails: a loss, a duplicate, an unexplained dead letter, a request never answered.
"""
