"""The LINA method, outside every backend: it acts only through the Backend interface and the sampler's hooks.

- ``schedule``: reallocated timesteps/sigmas at equal step count.
- ``embedding``: physics directions in the prompt embedding and the hook that adds them.
- ``latent``: visual-latent guidance by projection on x̂0 inside the CSG's regions.
- ``interventions``: the settings θ, ``build_interventions`` and ``generate_lina``.

Submodules are imported where used, so ``import lina_core.lina`` stays cheap for the CLI.
"""
