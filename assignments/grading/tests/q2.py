from otter.test_files import test_case

OK_FORMAT = False

name = "q2"
points = 4
all_or_nothing = True

@test_case(points=None, hidden=False)
def test_backward_against_numerical_gradients(batchnorm_backward_graph, batchnorm_backward, np):
    import companion
    rng = np.random.default_rng(2)
    x, gamma, dout = (rng.normal(size=(6, 3)), rng.normal(size=3), rng.normal(size=(6, 3)))

    def bn(xv):
        return gamma * (xv - xv.mean(axis=0)) / np.sqrt(xv.var(axis=0) + 1e-05)
    want = companion.numerical_gradient_array(bn, x, dout)
    for backward in (batchnorm_backward_graph, batchnorm_backward):
        dx, _, _ = backward(dout, x, gamma, 1e-05)
        error = companion.relative_error(dx, want)
        assert error < 1e-06, f'{backward.__name__}: dx relative error {error:.2g}'

@test_case(points=None, hidden=True)
def test_backward_matches_the_reference(batchnorm_backward_graph, batchnorm_backward, np):
    import companion
    rng = np.random.default_rng(12)
    for n, d, eps in [(2, 3, 1e-05), (9, 4, 0.001), (64, 5, 0.1)]:
        x = rng.normal(rng.uniform(-2, 2, d), rng.uniform(0.1, 3, d), size=(n, d))
        gamma, beta, dout = (rng.normal(size=d), rng.normal(size=d), rng.normal(size=(n, d)))
        _, cache = companion.batch_norm_forward(x, gamma, beta, epsilon=eps)
        want = companion.batch_norm_backward(dout, cache)
        for backward in (batchnorm_backward_graph, batchnorm_backward):
            got = backward(dout, x, gamma, eps)
            for name, g, w in zip(('dx', 'dgamma', 'dbeta'), got, want, strict=True):
                assert np.allclose(g, w, rtol=1e-06, atol=1e-09), f'{backward.__name__}: {name} differs (N={n}, eps={eps}) by {np.max(np.abs(g - w)):.3g}'
