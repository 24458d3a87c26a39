"""Advisory lock namespaces: two-key locks (namespace, hashtext(key)) never meet the one-key
locks the kit's jobs take, nor each other."""

LOCK_ORDER = 3101
LOCK_SUBSCRIPTION = 3102
LOCK_RULE = 3103
LOCK_MEMBER_ARRIVAL = 3104  # a member's registration against the events waiting for it
