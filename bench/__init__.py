"""`venv/bin/python -m bench`: what a deploy costs, side by side with the floor.

Not a test: it measures (5 runs or more of each figure, median and spread) and
prints one table. See docs/performance.md.
"""
