"""Text-to-sign diffusion task: scheduler round trip, freezing, EMA in evaluation, sampling, artefacts."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import imageio.v3 as iio
import lightning as L
import pytest
import torch
from diffusers import DDIMScheduler, DDPMScheduler
from lightning.pytorch.callbacks import ModelCheckpoint

from ablab.errors import ConfigError
from ablab.families.text2sign.cost import ClipSamplingCost
from ablab.families.text2sign.data import ProceduralSignsDataModule
from ablab.families.text2sign.model import SpaceTimeUNet, TextToSign
from ablab.families.text2sign.task import TextToSignTask, _wrap, sample_grid
from ablab.families.text2sign.text_encoder import TextEncoder
from ablab.lightning.callbacks.cost_measures import count_flops
from ablab.lightning.callbacks.ema import EMA


def tiny_task(freeze: bool = True, prediction: str = "sample", lr: float = 1e-2, **kwargs) -> TextToSignTask:
    torch.manual_seed(0)
    model = TextToSign(
        TextEncoder("tiny", max_length=8, tiny_hidden_size=16, tiny_layers=1, tiny_heads=2),
        partial(
            SpaceTimeUNet,
            model_channels=8,
            channel_mult=(1,),
            attention_levels=(0,),
            heads=2,
            groups=4,
            patch_size=2,
        ),
        context_dim=8,
        frames=4,
        height=8,
        width=8,
    )
    scheduler = DDPMScheduler(
        num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", prediction_type=prediction
    )
    params = dict(freeze_text_encoder=freeze, sample_steps=3, val_clips=4, grid_clips=2) | kwargs
    return TextToSignTask(model, partial(torch.optim.AdamW, lr=lr), scheduler, **params)


def tiny_data(tmp_path: Path) -> ProceduralSignsDataModule:
    return ProceduralSignsDataModule(
        num_glosses=3,
        max_glosses=1,
        frames=4,
        height=8,
        width=8,
        train_size=16,
        val_size=4,
        test_size=4,
        batch_size=4,
        cache_dir=tmp_path / "cache",
    )


def trainer(tmp_path: Path, callbacks: list, **kwargs) -> L.Trainer:
    params = (
        dict(
            default_root_dir=tmp_path,
            max_epochs=1,
            logger=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            num_sanity_val_steps=0,
            enable_checkpointing=False,
            accelerator="cpu",
            callbacks=callbacks,
        )
        | kwargs
    )
    return L.Trainer(**params)


@pytest.mark.parametrize("prediction", ["epsilon", "sample", "v_prediction"])
@pytest.mark.parametrize("scheduler_cls", [DDIMScheduler, DDPMScheduler])
def test_noising_then_denoising_with_the_true_noise_recovers_the_clip(prediction, scheduler_cls) -> None:
    train = DDPMScheduler(
        num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", prediction_type=prediction
    )
    clip = torch.rand(2, 3, 4, 8, 8) * 2 - 1
    noise = torch.randn_like(clip)
    ab = train.alphas_cumprod
    for t in (0, 250, 750):  # one step: x_t and the true noise give back the clip exactly
        x_t = train.add_noise(clip, noise, torch.tensor([t, t]))
        assert torch.allclose((x_t - (1 - ab[t]).sqrt() * noise) / ab[t].sqrt(), clip, atol=1e-4)
    sampler = scheduler_cls.from_config(train.config)
    sampler.set_timesteps(25 if scheduler_cls is DDIMScheduler else 1000)
    x = train.add_noise(clip, noise, sampler.timesteps[:1].expand(2))
    generator = torch.Generator().manual_seed(0)
    for t in sampler.timesteps:  # the whole chain, the "model" answering with the truth at every step
        eps = (x - ab[t].sqrt() * clip) / (1 - ab[t]).sqrt()
        truth = {
            "epsilon": eps,
            "sample": clip,
            "v_prediction": ab[t].sqrt() * eps - (1 - ab[t]).sqrt() * clip,
        }
        x = sampler.step(truth[prediction], t, x, generator=generator).prev_sample
    assert torch.allclose(x, clip, atol=1e-3)


def test_a_frozen_text_encoder_gets_no_gradient_no_optimiser_state_and_runs_once(tmp_path: Path) -> None:
    task = tiny_task(freeze=True)
    encoder = task.model.text_encoder
    before = {n: p.clone() for n, p in encoder.named_parameters()}
    calls = []
    encoder.model.register_forward_hook(lambda *_: calls.append(1))
    fit = trainer(tmp_path, [], limit_train_batches=3, limit_val_batches=0)
    fit.fit(task, datamodule=tiny_data(tmp_path))
    assert fit.global_step == 3
    assert len(calls) == 1  # every caption encoded once, into the cache
    assert task._cache.shape == (3, 8, 16)
    for name, p in encoder.named_parameters():
        assert not p.requires_grad and p.grad is None, name
        assert torch.equal(p, before[name]), name
    optimizer = fit.optimizers[0]
    in_optimizer = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert not in_optimizer & {id(p) for p in encoder.parameters()}
    assert not set(map(id, optimizer.state)) & {id(p) for p in encoder.parameters()}
    denoiser = set(map(id, task.model.denoiser.parameters()))
    assert denoiser <= in_optimizer and denoiser & set(map(id, optimizer.state))


def test_a_finetuned_text_encoder_is_trained_and_runs_every_step(tmp_path: Path) -> None:
    task = tiny_task(freeze=False)
    encoder = task.model.text_encoder
    before = {n: p.clone() for n, p in encoder.named_parameters()}
    calls = []
    encoder.model.register_forward_hook(lambda *_: calls.append(1))
    fit = trainer(tmp_path, [], limit_train_batches=3, limit_val_batches=0)
    fit.fit(task, datamodule=tiny_data(tmp_path))
    assert len(calls) == 3 and task._cache is None
    changed = [n for n, p in encoder.named_parameters() if not torch.equal(p, before[n])]
    assert "model.encoder.layer.0.attention.self.query.weight" in changed
    state = set(map(id, fit.optimizers[0].state))
    assert {id(p) for p in encoder.model.encoder.parameters()} <= state


def test_a_finetuned_text_encoder_can_train_at_its_own_learning_rate(tmp_path: Path) -> None:
    task = tiny_task(freeze=False, lr=1e-2, text_encoder_lr=1e-4)
    fit = trainer(tmp_path, [], limit_train_batches=2, limit_val_batches=0)
    fit.fit(task, datamodule=tiny_data(tmp_path))
    groups = fit.optimizers[0].param_groups
    encoder = {id(p) for p in task.model.text_encoder.parameters()}
    assert [g["lr"] for g in groups] == [1e-2, 1e-4]
    assert {id(p) for p in groups[1]["params"]} == encoder
    assert not {id(p) for p in groups[0]["params"]} & encoder
    # Frozen, the setting changes nothing: the trainable parameters, no encoder weights among them.
    frozen = tiny_task(freeze=True, text_encoder_lr=1e-4)
    assert frozen.optimizer_groups() == frozen.trainable_parameters()
    assert not {id(p) for p in frozen.optimizer_groups()} & {
        id(p) for p in frozen.model.text_encoder.parameters()
    }


class WeightsInUse(L.Callback):
    """Records the denoiser's weights at the start of the first test batch, where sampling happens."""

    def __init__(self) -> None:
        self.at_test: dict[str, torch.Tensor] = {}

    def on_test_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        if not self.at_test:
            self.at_test = {n: p.detach().clone() for n, p in pl_module.named_parameters() if "denoiser" in n}


def test_ema_weights_differ_from_raw_and_are_what_test_sampling_uses(tmp_path: Path) -> None:
    task = tiny_task(lr=3e-2)
    ema, probe = EMA(decay=0.6), WeightsInUse()
    checkpoint = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)
    fit = trainer(
        tmp_path, [ema, checkpoint, probe], max_epochs=2, enable_checkpointing=True, limit_val_batches=1
    )
    data = tiny_data(tmp_path)
    fit.fit(task, datamodule=data)
    saved = torch.load(tmp_path / "ckpt" / "last.ckpt", map_location="cpu", weights_only=False)
    averaged, raw = saved["state_dict"], saved["current_model_state"]
    denoiser = [k for k in raw if "denoiser" in k]
    assert any(not torch.equal(averaged[k], raw[k]) for k in denoiser)  # the checkpoint's weights are EMA
    fit.test(task, datamodule=data, ckpt_path=str(tmp_path / "ckpt" / "last.ckpt"), verbose=False)
    used = probe.at_test
    assert all(torch.equal(used[k], averaged[k]) for k in denoiser)
    assert any(not torch.equal(used[k], raw[k]) for k in denoiser)
    after = dict(task.named_parameters())
    assert all(torch.equal(after[k], raw[k]) for k in denoiser)  # raw weights back after testing
    assert 0.0 <= fit.callback_metrics["test/retrieval_acc"] <= 1.0


def test_sampling_is_reproducible_bounded_and_steered_by_guidance(tmp_path: Path) -> None:
    task = tiny_task()
    task.set_captions(["hello", "go", "thanks"])
    ids = torch.tensor([0, 2])
    with torch.no_grad():
        # The denoiser starts with zero residual branches and a zero cross-attention output (so an
        # untrained model is the identity path): give them weights, so the caption reaches the output
        # and guidance has something to scale.
        for weight in task.model.denoiser.parameters():
            if weight.dim() > 1 and not weight.any():
                torch.nn.init.normal_(weight, std=0.2)
        task.model.null_context.normal_()

    def draw(**kwargs) -> torch.Tensor:
        return task.sample(ids, generator=torch.Generator().manual_seed(1), **kwargs)

    first = draw()
    assert first.shape == (2, 3, 4, 8, 8) and first.abs().max() <= 1.0
    assert torch.equal(first, draw())
    assert not torch.allclose(first, draw(guidance_scale=1.0))
    assert draw(sampler="ddpm", steps=5).shape == first.shape


def test_test_run_reports_quality_conditioning_and_cost_and_saves_a_caption_grid(tmp_path: Path) -> None:
    task = tiny_task()
    cost = ClipSamplingCost()
    fit = trainer(tmp_path, [cost], limit_train_batches=2, limit_val_batches=1)
    data = tiny_data(tmp_path)
    fit.fit(task, datamodule=data)
    fit.test(task, datamodule=data, verbose=False)
    metrics = fit.callback_metrics
    for key in (
        "retrieval_acc",
        "fd_random3d",
        "ssim",
        "psnr",
        "temporal_consistency",
        "temporal_consistency_real",
        "loss",
    ):
        assert f"test/{key}" in metrics, key
    assert metrics["test/retrieval_chance"] == pytest.approx(
        1 / len(set(data.splits["test"].tensors[1].tolist()))
    )
    assert metrics["test/temporal_consistency_real"] < 1.0
    # the cost of one generated clip: sampling FLOPs (25 DDIM steps x 2 passes) and its latency
    clip_cost = cost.cost(fit, task)
    assert clip_cost["cost/latency_batch"] == 1 and clip_cost["cost/latency_ms_per_sample"] > 0
    context = task.model.context(task.text_states(torch.zeros(1, dtype=torch.long)))
    one_pass = count_flops(lambda: one_denoiser_pass(task, context))
    assert 2 * task.sample_steps * one_pass <= clip_cost["cost/flops"] <= 2.1 * task.sample_steps * one_pass
    frames = iio.imread(tmp_path / "samples" / "test.gif", index=None)
    assert frames.shape[0] == 4 and frames.shape[2] > 2 * (8 * 3 + 2)  # 4 frames, 2 clips and row names
    assert (tmp_path / "samples" / "val_epoch000.gif").is_file()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        (dict(caption_dropout=1.0), "task.caption_dropout"),
        (dict(sampler="euler"), "task.sampler"),
        (dict(sample_steps=5000), "task.sample_steps"),
        (dict(val_clips=1), "task.val_clips"),
        (dict(freeze=False, text_encoder_lr=0.0), "task.text_encoder_lr"),
    ],
)
def test_bad_task_settings_name_the_field(kwargs, field) -> None:
    with pytest.raises(ConfigError, match=field):
        tiny_task(**kwargs)


def test_the_ema_average_skips_frozen_weights_and_lerps_trained_ones() -> None:
    from torch import nn
    from torch.optim.swa_utils import get_ema_multi_avg_fn

    from ablab.lightning.callbacks.ema import TrainableAveragedModel

    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    model[0].requires_grad_(False)
    average = TrainableAveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.75), use_buffers=True)
    average.update_parameters(model)  # the first update copies
    frozen_before = model[0].weight.clone()
    with torch.no_grad():
        start = model[1].weight.clone()
        model[1].weight.add_(4.0)
        model[0].weight.add_(4.0)  # a frozen weight changed behind the optimiser's back is not tracked
    average.update_parameters(model)
    assert torch.allclose(average.module[1].weight, 0.75 * start + 0.25 * model[1].weight)
    assert torch.equal(average.module[0].weight, frozen_before)


def one_denoiser_pass(task: TextToSignTask, context: torch.Tensor) -> torch.Tensor:
    """One network evaluation on one clip, for the FLOPs of a sampling step."""
    return task.model(torch.zeros(1, *task.model.clip_shape), torch.zeros(1, dtype=torch.long), context)


def test_sample_grid_names_its_rows_and_wraps_long_captions() -> None:
    from PIL import ImageFont

    font = ImageFont.load_default(size=11)
    lines = _wrap("goodbye friend see you later tomorrow morning in the park", font, 70)
    assert 1 < len(lines) <= 3 and all(font.getlength(line) <= 70 + font.getlength("…") for line in lines)
    fake, real = torch.zeros(2, 3, 2, 8, 8), torch.zeros(2, 3, 2, 8, 8)
    grid = sample_grid(fake, real, ["hello", "a long caption of several words"], scale=4)
    side = int(font.getlength("reference")) + 8
    assert grid.shape[2] == side + 2 * (8 * 4 + 2)
    # the row names are drawn in the left column beside the generated and the reference row
    assert grid[0, :, :side].any()
    label = grid.shape[1] - 2 * 32 - 2
    generated_band, reference_band = grid[0, label : label + 32, :side], grid[0, label + 34 :, :side]
    assert generated_band.any() and reference_band.any()
    assert grid[0, :label, side:].any()  # captions above the clips
