from otter.test_files import test_case

OK_FORMAT = False

name = "q1"
points = 4
all_or_nothing = True

@test_case(points=None, hidden=False)
def test_forward_normalizes_each_feature(batchnorm_forward, np):
    x = np.random.default_rng(1).normal(3.0, 5.0, size=(64, 4))
    y, _ = batchnorm_forward(x, np.ones(4), np.zeros(4), 1e-05)
    assert y.shape == (64, 4), f'output shape {y.shape}, expected (64, 4)'
    assert np.allclose(y.mean(axis=0), 0.0, atol=1e-07), 'each feature should have mean 0'
    assert np.allclose(y.std(axis=0), 1.0, atol=0.001), 'each feature should have std 1'

@test_case(points=None, hidden=True)
def test_forward_matches_the_reference(batchnorm_forward, np):
    import companion
    rng = np.random.default_rng(11)
    for n, d, eps in [(2, 3, 1e-05), (5, 4, 0.001), (7, 2, 0.5), (128, 6, 1e-05)]:
        x = rng.normal(rng.uniform(-3, 3, d), rng.uniform(0.01, 4, d), size=(n, d))
        gamma, beta = (rng.normal(size=d), rng.normal(size=d))
        want, _ = companion.batch_norm_forward(x, gamma, beta, epsilon=eps)
        got, _ = batchnorm_forward(x, gamma, beta, eps)
        assert np.allclose(got, want, rtol=1e-06, atol=1e-08), f"with N={n}, eps={eps}: output differs from BN's by {np.max(np.abs(got - want)):.3g} (biased variance? eps inside the square root?)"
