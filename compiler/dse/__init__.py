"""Design-space exploration: which accelerator to build for a model on a board.

``space.py``   the space file (a base config plus axes whose cartesian product gives the
               points, and/or an explicit list), validated with errors naming the key
``point.py``   one point's evaluation, the job the autotuner's runners execute: compile
               (heuristic schedules or a small tuning budget), simulate, estimate resources
``pareto.py``  the Pareto front of latency against each resource
``sweep.py``   the sweep: points through a runner, results cached by config hash in the
               output directory (a rerun resumes), the CSV / JSON tables and the plots
"""
