"""``crmsync serve``: one process with a scheduler, an authenticated operations API and a status page.

Runs happen in child processes (``crmsync sync`` and friends), so a crash or memory growth of one
pipeline cannot take the server down, and the server holds no lock on the store between runs.
"""
