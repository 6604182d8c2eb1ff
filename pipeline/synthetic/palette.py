"""Colours of the worksite, BGR uint8 triples as OpenCV draws them."""

from __future__ import annotations

import numpy as np

Colour = tuple[int, int, int]

HELMET_COLOURS: dict[str, Colour] = {
    "yellow": (20, 210, 250),
    "white": (235, 238, 238),
    "orange": (10, 125, 250),
    "red": (35, 30, 205),
    "blue": (190, 95, 25),
}
VEST_COLOURS: dict[str, Colour] = {
    "orange": (0, 110, 255),
    "yellow-green": (30, 250, 200),
}
REFLECTIVE_STRIPE: Colour = (205, 208, 208)

# Everyday clothing: deliberately no fluorescent colours, which only vests and tarps wear.
SHIRT_COLOURS: tuple[Colour, ...] = (
    (95, 55, 30),  # navy
    (125, 125, 125),  # grey
    (45, 85, 45),  # dark green
    (220, 222, 222),  # white
    (35, 35, 38),  # black
    (45, 45, 150),  # brick red
    (45, 75, 115),  # brown
    (150, 110, 70),  # denim
    (195, 160, 120),  # light blue
    (90, 120, 140),  # khaki
    (120, 60, 110),  # purple
)
TROUSER_COLOURS: tuple[Colour, ...] = (
    (80, 50, 35),
    (35, 35, 35),
    (85, 120, 140),
    (95, 95, 95),
    (120, 85, 55),
    (50, 70, 65),
)
SKIN_COLOURS: tuple[Colour, ...] = (
    (165, 190, 230),
    (140, 170, 215),
    (110, 145, 195),
    (80, 115, 165),
    (60, 85, 130),
    (45, 60, 95),
)
HAIR_COLOURS: tuple[Colour, ...] = (
    (25, 25, 28),
    (30, 45, 70),
    (50, 80, 120),
    (90, 150, 190),
    (150, 150, 150),
)
BEANIE_COLOURS: tuple[Colour, ...] = ((30, 30, 30), (75, 45, 30), (90, 90, 90), (45, 70, 60))
BOOT_COLOURS: tuple[Colour, ...] = ((25, 30, 35), (40, 60, 85), (30, 30, 30))


def jitter(colour: Colour, rng: np.random.Generator, amount: int) -> Colour:
    """`colour` with each channel moved by up to +-amount, clipped to 0..255."""
    b, g, r = (int(v) for v in rng.integers(-amount, amount + 1, size=3))
    return (
        min(255, max(0, colour[0] + b)),
        min(255, max(0, colour[1] + g)),
        min(255, max(0, colour[2] + r)),
    )


def shade(colour: Colour, factor: float) -> Colour:
    """`colour` scaled by `factor` (below 1 darker, above 1 lighter), clipped to 0..255."""
    return (
        min(255, int(colour[0] * factor)),
        min(255, int(colour[1] * factor)),
        min(255, int(colour[2] * factor)),
    )


def pick(rng: np.random.Generator, colours: tuple[Colour, ...]) -> Colour:
    return colours[int(rng.integers(len(colours)))]
