"""The sampling default shared by the app, the CLI commands and the library (a light module: no torch import).

Classifier-free guidance 3.0: on the embedded model, guidance 5 over-saturates colours (a sky-blue sea, orange
walls) and the judge then misses the stated things; at 2.5-3 the in-distribution baseline's texture score goes
from 0.77 to 0.86 and its physical score from 0.54 to 0.66 (train split, 4 seeds; README, "The embedded model").
"""
DEFAULT_GUIDANCE = 3.0
