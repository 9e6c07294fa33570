"""The paper's three diagnostics, run on any backend through the one sampling loop (`python -m lina_core diagnose`).

- ``inpaint``: hide one CSG node of a ground-truth scene, inpaint it, judge whether it comes back
  (explicit vs implied nodes, by hop).
- ``embedding_probe``: physics vs texture directions in the prompt embedding, and what edits along
  each do to the judge's verdicts.
- ``timing``: the same intervention in one window of steps at a time; when the verdict on x̂0 settles.
- ``report``: tables, headline numbers and the figure, written as markdown, JSON and PNG.
"""
