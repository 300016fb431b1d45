"""The fuzzing harness behind ``tools/fuzz.py`` (see its docstring and
docs/robustness.md).

``corpus``: the real files cases start from and where their pixels are;
``mutators``: the mutations and :func:`~fuzzing.mutators.make_case`;
``check``: the worker side, which decodes a case and checks the robustness
property; ``harness``: the driver that runs cases in guarded worker
processes, saves findings and replays them.
"""
