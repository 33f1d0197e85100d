"""The autotuner: search an operator's schedule space with measured cycles.

``workload.py``  what is tuned (an operator up to its name and immediates, a config, its
                 layout options) and its stable key; schedules as JSON
``measure.py``   compile a schedule and run it on the simulator (exact cycles); runners
                 that measure batches in local processes or on a Dask cluster
``log.py``       the JSON-lines tuning log (append as results arrive, resume, best per
                 workload) and the schedule provider ``compile_op`` takes
``tasks.py``     a model's accelerator operators as ``vta compile`` compiles them, one task
                 per workload (``extract_workloads``)
``cost_model.py`` the XGBoost ranking model over ``compiler.schedule.features``
``explorer.py``  model-guided simulated annealing, random and grid search behind one
                 interface
``tuner.py``     the loop: propose, measure, log, retrain

It measures through the runtime's simulator device, like any user (DESIGN.md).
"""
