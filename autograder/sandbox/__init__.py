"""The untrusted side: runs a learner's exercise cells and answers questions about them.

Nothing here imports the rest of ``autograder``: this code runs in the same process as the
submission, so it must not hold anything the submission should not see. The core (runner,
protocol) uses the standard library only and knows no lesson. A lesson's probes (its folder's
``sandbox_probes.py``, handed over as source: see ``probes``) may import what their lesson teaches.
"""
