"""`make demo`: a year of a storefront's members seeded through the suite's public interfaces
only (gRPC with client credentials, commerce events published with the storefront client as the
storefront's broker user, the operators' commands), then a short tour of what to look at.

    plan.py      the data set, drawn from a seed: members, their orders over a year, who buys
                 PLUS, whose renewal fails, who holds a gift card (no I/O)
    target.py    where the suite is and how the demo calls it (retries, bounded concurrency,
                 waiting until the suite is quiet), and the file of secrets shown only once
    people.py    the operators and the storefront's backend, each a client with its token
    members.py   registration (bulk import), tags, real-name verification
    commerce.py  the storefront's commerce events, and the checkout holds they name
    cards.py     the gift-card back office: a batch through maker-checker to sales and binding
    seed.py      the phases, in the order the story needs them
    census.py    what the API reports about the data set (compared before and after a run)
    tour.py      which members to look at and the `buf curl` lines that show them
    play.py      one run: census, phases, census, tour
    services.py  the services as `make run` starts them, for `python -m tools.demo`
    demo.sh      `make demo`: the environment `make run` sets, then `python -m tools.demo`

It builds on tools/suite (the processes as `make run` starts them, the callers, the PLUS plan,
the order events), as the end-to-end test and `make chaos` do. Every mutation carries an id
derived from the seed (request ids, event ids, order ids), so a second run replays each as a
no-op: the census before and after it is the same.
"""
