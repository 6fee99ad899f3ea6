"""Configuration of a gradient (ProxylessNAS-style) search."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from hwnas.errors import HwnasError


@dataclass(frozen=True)
class GradientSearchConfig:
    """Everything a gradient search needs; the run folder's config is ``asdict`` of it.

    Example:
        >>> cfg = GradientSearchConfig(space="mbconv-small", lut="table.json", budget_ms=2.0,
        ...                            out="runs/proxyless")
    """

    space: str
    lut: str
    budget_ms: float
    out: str
    loss: str = "budget"            # budget | mul-log | add-linear
    relaxation: str = "binary"      # binary | softmax | gumbel
    data: str = "digits"
    epochs: int = 10
    warmup_epochs: int = 2
    batch_size: int = 64
    weight_lr: float = 0.05
    arch_lr: float = 1e-3
    seed: int = 0
    train_derived: bool = True
    derived_epochs: int = 10
    resume: bool = False
    force: bool = False             # start over a run already in ``out``
    threads: int = 0                # recorded, not set: the caller sets torch's thread count
    device: str = "cpu"             # cpu | cuda | cuda:N | auto (the CLI's default: auto)
    precision: str = "fp32"         # fp32 | bf16 | fp16 (autocast; fp16 loss-scaled, GPU only)
    # --- beyond the contract -----------------------------------------------------------------
    arch_update_every: int = 1      # weight steps per architecture step
    weight_momentum: float = 0.9
    weight_decay: float = 4e-5
    mul_alpha: float = 0.2
    mul_beta: float = 0.3
    add_lambda: float = 0.1
    dual_lr: float = 1.0            # dual-ascent rate of the budget's Lagrange multiplier
    band_low: float = 0.9           # derivation aims at band_low * T <= latency <= T
    tau_max: float = 5.0            # Gumbel temperature, annealed geometrically
    tau_min: float = 0.5
    stop_after_epoch: int | None = None  # stop (as if interrupted) after this epoch; for resume

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_request(cls, req) -> GradientSearchConfig:
        """From a :class:`hwnas.search.registry.SearchRequest` (``--epochs`` defaults to 10)."""
        if req.lut is None or req.budget_ms is None:
            raise HwnasError("--strategy proxyless needs --lut and --budget-ms",
                             "pass the latency table and the budget T")
        return cls(req.space, req.lut, req.budget_ms, str(req.out), loss=req.loss,
                   relaxation=req.relaxation, data=req.data, epochs=req.epochs or 10,
                   seed=req.seed, train_derived=req.train_derived, resume=req.resume,
                   device=req.device, precision=req.precision)
