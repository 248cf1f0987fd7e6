from otter.test_files import test_case

OK_FORMAT = False

name = "q3"
points = 4
all_or_nothing = True

@test_case(points=None, hidden=False)
def test_running_averages_move_towards_the_data(RunningBatchNorm, np):
    bn = RunningBatchNorm(3, momentum=0.9)
    x = np.random.default_rng(3).normal(5.0, 2.0, size=(256, 3))
    for _ in range(100):
        bn(x, training=True)
    assert np.allclose(bn.moving_mean, x.mean(axis=0), atol=0.001), 'moving_mean'
    assert np.allclose(bn.moving_var, x.var(axis=0), rtol=0.001), 'moving_var'

@test_case(points=None, hidden=True)
def test_running_batch_norm_matches_the_reference(RunningBatchNorm, np):
    import companion
    rng = np.random.default_rng(13)
    for momentum in (0.9, 0.5, 0.99):
        bn = RunningBatchNorm(4, momentum=momentum, eps=0.001)
        bn.gamma, bn.beta = (rng.normal(size=4), rng.normal(size=4))
        ref = companion.BatchNorm(4, momentum=momentum, epsilon=0.001)
        ref.gamma, ref.beta = (bn.gamma.copy(), bn.beta.copy())
        for _ in range(3):
            x = rng.normal(2.0, 3.0, size=(16, 4))
            assert np.allclose(bn(x, training=True), ref.forward(x, training=True))
        assert np.allclose(bn.moving_mean, ref.moving_mean), f'momentum={momentum}: moving_mean differs: is the momentum convention reversed?'
        assert np.allclose(bn.moving_var, ref.moving_variance), f'momentum={momentum}: moving_var'
        before = (bn.moving_mean.copy(), bn.moving_var.copy())
        x = rng.normal(size=(5, 4))
        assert np.allclose(bn(x, training=False), ref.forward(x, training=False)), 'inference'
        assert np.array_equal(bn.moving_mean, before[0]), 'inference changed moving_mean'
        assert np.array_equal(bn.moving_var, before[1]), 'inference changed moving_var'
