"""`python -m services.points [serve|migrate|expire-now|reconcile|parked]`."""

from services.kit.service import main

from .app import PointsApp, expire_now, parked, reconcile

if __name__ == "__main__":
    main(PointsApp, {"expire-now": expire_now, "reconcile": reconcile, "parked": parked})
