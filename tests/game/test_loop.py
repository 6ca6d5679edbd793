"""The one Stackelberg loop (toysim.game.loop.play) on a game small enough to follow by hand:
a leader that steps +0.5 along a line through the ideal, a follower that sums what it sees."""

import jax
import jax.numpy as jnp
import numpy as np

from toysim.game.early_stop import StopParams
from toysim.game.loop import GoldChecks, Round, Start, play
from toysim.model.utility import Utility

IDEAL = 2.0
U = Utility(amplitude=jnp.asarray(1.0), tau=jnp.asarray(0.5), ideal=jnp.asarray([IDEAL]))


def counting_game(seen_keys: bool = False) -> Round:
    """theta -> theta + 0.5 (leader state counts its moves); the follower sums the played
    thetas; the leader ascends the reward r(theta) = theta; gold labels are exact (spread 0)."""

    def leader(moves, theta, total, t, key):
        seen = jax.random.key_data(key)[-1] if seen_keys else t
        return theta + 0.5, moves + 1, seen

    def follower(total, theta, t, key):
        return total + theta[0], t

    return Round(
        leader=leader,
        follower=follower,
        ascended=lambda total, seen, theta: theta[0],
        gold_policy=lambda theta: (theta, jnp.zeros(())),
        record=lambda theta, total, seen, trained: dict(
            theta=theta[0], total=total, seen=seen, trained=trained
        ),
    )


def start() -> Start:
    return Start(policy=jnp.zeros(1), leader=jnp.zeros((), jnp.int32), follower=jnp.zeros(()))


def test_rounds_move_the_leader_then_train_the_follower_on_the_played_policy():
    out = jax.jit(lambda: play(counting_game(), start(), 6, None))()
    theta = 0.5 * np.arange(1, 7)
    np.testing.assert_allclose(out["theta"], theta)
    np.testing.assert_allclose(out["total"], np.cumsum(theta))  # after the leader's move
    np.testing.assert_array_equal(out["seen"], np.arange(6))  # round t sees t
    np.testing.assert_array_equal(out["trained"], np.arange(6))
    assert "stopped" not in out and "climb" not in out


def test_round_t_gets_key_t():
    keys = jax.random.split(jax.random.key(3), 5)
    out = jax.jit(lambda k: play(counting_game(seen_keys=True), start(), 5, k))(keys)
    np.testing.assert_array_equal(out["seen"], jax.random.key_data(keys)[:, -1])


def test_early_stopping_stops_after_patience_checks_and_rolls_back_to_the_best_check():
    """Worked by hand: U peaks at theta = 2 (after round 4); rounds 5 and 6 (theta 2.5, 3) make
    two checks without a better gold estimate while the climb (3 > 2) kept rising, so the
    check after round 6 stops the leader; from round 7 on it plays theta = 2 again, and the
    climb falls back by the 1 it gained since."""
    checks = GoldChecks(
        key=jax.random.key(0),
        budget=3,
        params=StopParams(patience=jnp.asarray(2.0), every=jnp.asarray(1.0), label_noise=0.0),
        u=U,
    )
    out = jax.jit(lambda: play(counting_game(), start(), 9, None, checks, climb=True))()
    np.testing.assert_allclose(out["theta"], [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 2.0, 2.0, 2.0])
    np.testing.assert_array_equal(out["stopped"], [0, 0, 0, 0, 0, 1, 1, 1, 1])
    np.testing.assert_allclose(out["climb"], [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 2.0, 2.0, 2.0])
    np.testing.assert_array_equal(out["best_check"], [1, 2, 3, 4, 4, 4, 4, 4, 4])
    np.testing.assert_array_equal(out["gold_spent"], [3, 6, 9, 12, 15, 18, 18, 18, 18])
    gold = np.exp(-0.5 * (np.array([0.5, 1.0, 1.5, 2.0, 2.5, 3.0]) - IDEAL) ** 2)
    np.testing.assert_allclose(out["gold_estimate"][:6], gold, rtol=1e-6)
    np.testing.assert_allclose(out["gold_estimate"][6:], gold[-1], rtol=1e-6)  # no more checks
