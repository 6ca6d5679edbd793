"""What surrounds a sweep's computation (:mod:`toysim.sweep`): its grid, files and processes.

- :mod:`toysim.sweeps.grid`: the names a grid axis may take (a game's number, a
  composition's traced number or static field) and the compiled programs its static axes make.
- :mod:`toysim.sweeps.store`: the result in memory (:class:`~toysim.sweeps.store.SweepResult`)
  and on disk (``.npz`` + versioned JSON sidecar, validated on load), the name that identifies
  a configuration, and the folder of finished chunks a sweep resumes from.
- :mod:`toysim.sweeps.cluster`: joining several processes (hosts) through ``jax.distributed``,
  building global batch arrays and gathering results so that process 0 can write them.
"""
