"""The Stackelberg game: followers, the leader's gradient, trajectories."""
