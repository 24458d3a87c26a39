"""The whole suite as its users meet it, for the tools and tests that run it as `make run` does
and call it from outside: the end-to-end test (tests/e2e), `make chaos` (tools/chaos).

    processes.py  the five services and the fake payment provider as processes (the Procfile's
                  commands): their ports, keys, broker users and names (`Wiring`), starting,
                  readiness, stopping, operator commands
    callers.py    a stub of every service, and the callers with their tokens: the first
                  administrator, the gift-card back office's people, the storefront's backend
    giftcards.py  gift cards through the whole back-office procedure, sold and ACTIVE
    plans.py      PLUS monthly, the paid membership the storefront sells
    orders.py     the storefront's order events (order lines, order.paid)
"""
