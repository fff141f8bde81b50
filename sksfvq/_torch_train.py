"""Standalone training of :class:`sksfvq.torch.SpaceFillingVQLayer` (published schedule).

:func:`train_standalone`, re-exported by :mod:`sksfvq.torch`: the layer alone
on data, phase by phase, growing its corners to ``n_clusters``.
"""

import torch


def train_standalone(layer, X, *, n_epochs=5, batch_size=64, learning_rate=1e-3,
                     lr_milestones=(0.6, 0.8), verbose=0):
    """Train a layer alone on data with the published recipe, growing to ``n_clusters``.

    Per phase: a fresh Adam optimizer, ``n_epochs`` epochs of shuffled
    minibatches, loss ``mse(dithered point, x)``, the learning rate halved at
    each fraction of ``lr_milestones`` of the phase's epochs; then
    :meth:`SpaceFillingVQLayer.grow` until ``n_clusters`` corners are reached
    (the last phase runs at ``n_clusters``). Uses torch's global generator.

    Parameters
    ----------
    layer : SpaceFillingVQLayer
        Trained in place (its ``output`` is used as is; use ``"dithered"``).
    X : Tensor of shape (n, n_features)
    n_epochs, batch_size, learning_rate, lr_milestones
        The published values by default.
    verbose : int, default=0
        Print one line per phase when > 0.

    Returns
    -------
    history : list of dict
        One entry per phase: ``n_clusters`` and ``loss`` (mean of the last
        epoch's batch losses, per feature).
    """
    X = torch.as_tensor(X).to(layer.corners)
    n = X.shape[0]
    if n < 1:
        raise ValueError("train_standalone needs at least one row; got 0.")
    for name, value in (("n_epochs", n_epochs), ("batch_size", batch_size)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be an int >= 1; got {value!r}.")
    history = []
    layer.train()
    while True:
        opt = torch.optim.Adam(layer.parameters(), lr=learning_rate)
        steps = [int(m * n_epochs) for m in lr_milestones]
        sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=steps, gamma=0.5)
        loss_sum = torch.zeros((), dtype=torch.float64)
        for _ in range(n_epochs):
            order = torch.randperm(n, device=X.device)
            loss_sum, n_batches = torch.zeros((), dtype=torch.float64), 0
            for start in range(0, n, batch_size):
                xb = X[order[start:start + batch_size]]
                q = layer(xb).output
                loss = ((q - xb) ** 2).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                loss_sum += loss.detach().double().cpu()
                n_batches += 1
            sched.step()
            loss_sum = float(loss_sum) / max(n_batches, 1)
        history.append({"n_clusters": layer.n_corners, "loss": float(loss_sum)})
        if verbose:
            print(f"[SpaceFillingVQLayer] K={layer.n_corners:5d}  loss={loss_sum:.6g}",
                  flush=True)
        if layer.n_corners >= layer.n_clusters:
            return history
        layer.grow()
