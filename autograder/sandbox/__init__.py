"""The untrusted side: runs a learner's exercise cells and answers questions about them.

Nothing here imports the rest of ``autograder``: this code runs in the same process as the
submission, so it must not hold anything the submission should not see. The core (runner,
protocol) uses the standard library only; lesson probes may import what their lesson teaches.
"""
