"""The persistent compilation cache: its folder, its machine key, and a warm load that is silent."""

import json
import os
import subprocess
import sys

from toysim.compilation_cache import cache_root, cpu_description, machine_key

CPUINFO = """processor\t: 0
model name\t: AMD EPYC 9R14
flags\t\t: fpu sse2 avx2 avx512f
bogomips\t: 5200.00

processor\t: 1
model name\t: AMD EPYC 9R14
flags\t\t: fpu sse2 avx2 avx512f
bogomips\t: 5199.99
"""


def test_cpu_description_keeps_the_first_processors_model_and_flags(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(CPUINFO)
    described = cpu_description(path)
    assert "model name: AMD EPYC 9R14" in described
    assert "flags: fpu sse2 avx2 avx512f" in described
    assert "bogomips" not in described  # varies between boots of one machine


def test_machine_key_changes_with_the_instruction_set(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(CPUINFO)
    key = machine_key(cpu_description(path))
    path.write_text(CPUINFO.replace(" avx512f", ""))  # the same model, AVX-512 masked off
    assert machine_key(cpu_description(path)) != key
    path.write_text(CPUINFO.replace("5200.00", "5100.00"))
    assert machine_key(cpu_description(path)) == key
    assert len(key) == 16 and int(key, 16) >= 0


def test_cache_root_follows_the_environment(tmp_path):
    assert cache_root({"TOYSIM_CACHE": "off"}) is None
    assert cache_root({"TOYSIM_CACHE": " OFF "}) is None
    assert cache_root({"TOYSIM_CACHE": str(tmp_path)}) == tmp_path
    assert cache_root({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "toysim"
    assert cache_root({}).parts[-2:] == (".cache", "toysim")


PROGRAM = """
import json, jax, jax.numpy as jnp
from toysim.compilation_cache import enable_compilation_cache
events = []
jax.monitoring.register_event_listener(lambda name, **kw: events.append(name))
folder = enable_compilation_cache()
f = jax.jit(lambda x: jnp.cumsum(jnp.sin(x) @ x.T, axis=0))
f(jnp.ones((40, 40))).block_until_ready()
hits = events.count("/jax/compilation_cache/cache_hits")
print(json.dumps({"folder": str(folder), "hits": hits}))
"""


def run_program(env):
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def test_a_second_process_loads_from_the_cache_without_a_word(tmp_path):
    env = {**os.environ, "TOYSIM_CACHE": str(tmp_path)}
    first, _ = run_program(env)
    second, stderr = run_program(env)
    assert first["hits"] == 0 and second["hits"] >= 1
    assert first["folder"] == second["folder"]
    assert first["folder"].startswith(str(tmp_path / "xla-"))
    assert "cpu_aot_loader" not in stderr and "SIGILL" not in stderr, stderr


def test_off_writes_nothing(tmp_path):
    env = {**os.environ, "TOYSIM_CACHE": "off", "HOME": str(tmp_path)}
    env.pop("XDG_CACHE_HOME", None)
    result, _ = run_program(env)
    assert result["folder"] == "None" and result["hits"] == 0
    assert not list(tmp_path.rglob("xla-*"))
