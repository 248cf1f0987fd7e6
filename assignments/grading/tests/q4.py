from otter.test_files import test_case

OK_FORMAT = False

name = "q4"
points = 4
all_or_nothing = True

@test_case(points=None, hidden=False)
def test_layer_has_the_four_weights(MyBatchNormalization, keras):
    layer = MyBatchNormalization()
    layer.build((None, 3))
    names = [w.name for w in layer.weights]
    assert names == ['gamma', 'beta', 'moving_mean', 'moving_variance'], names
    assert len(layer.trainable_weights) == 2, 'only gamma and beta are trainable'

@test_case(points=None, hidden=True)
def test_layer_matches_keras(MyBatchNormalization, keras, np):
    rng = np.random.default_rng(14)
    ours, theirs = (MyBatchNormalization(), keras.layers.BatchNormalization())
    ours.build((None, 5))
    theirs.build((None, 5))
    start = [rng.normal(size=5), rng.normal(size=5), rng.normal(size=5), rng.uniform(1, 2, 5)]
    ours.set_weights(start)
    theirs.set_weights(start)
    for step in range(3):
        x = rng.normal(1.0, 2.0, size=(32, 5)).astype('float32')
        got = keras.ops.convert_to_numpy(ours(x, training=True))
        want = keras.ops.convert_to_numpy(theirs(x, training=True))
        assert np.allclose(got, want, atol=0.0001), f'training output, step {step}'
    for o, t in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        assert np.allclose(o, t, atol=1e-05), 'moving averages after 3 training steps'
    x = rng.normal(size=(7, 5)).astype('float32')
    got = keras.ops.convert_to_numpy(ours(x, training=False))
    want = keras.ops.convert_to_numpy(theirs(x, training=False))
    assert np.allclose(got, want, atol=0.0001), 'inference output'
    before = [w.copy() for w in ours.get_weights()]
    ours(x, training=False)
    assert all((np.array_equal(a, b) for a, b in zip(before, ours.get_weights(), strict=True))), 'inference changed a weight'
