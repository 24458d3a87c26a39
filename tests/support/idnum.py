"""Valid resident ID numbers for tests."""

from services.identity.domain.id_number import check_character


def make(serial: int, birthday: str = "19900307", region: str = "110101") -> str:
    first17 = f"{region}{birthday}{serial % 1000:03d}"
    return first17 + check_character(first17)
