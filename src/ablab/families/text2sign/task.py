"""Text-to-sign diffusion: DDPM training (epsilon prediction, caption dropout), DDIM sampling with
classifier-free guidance, and evaluation of the samples (conditioning, quality); its `inference` is sampling, so the run's cost
figures are per generated clip (`ablab.families.text2sign.cost`).

Frozen text encoder (`freeze_text_encoder=true`): no gradients, no optimiser state, and the caption
token states are computed once per caption and cached. Finetuned: the encoder runs every step.
EMA is not the task's business: the `ema` callback swaps the averaged weights in for validation,
test and checkpoints, so everything sampled here uses them when it is on.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ablab.errors import require
from ablab.families.text2sign.data import SignDataInfo
from ablab.lightning.task import Task

SAMPLERS = ("ddim", "ddpm")
PREDICTIONS = ("epsilon", "sample", "v_prediction")


def to_unit(clips: torch.Tensor) -> torch.Tensor:
    """[-1, 1] model space -> [0, 1] metric space."""
    return ((clips + 1) / 2).clamp(0, 1)


class TextToSignTask(Task):
    """Loss: MSE between the true and the predicted noise of a DDPM-noised clip."""

    def __init__(
        self,
        model: nn.Module,
        optimizer: Callable[..., torch.optim.Optimizer],
        noise_scheduler: Any,
        scheduler: Callable[..., Any] | None = None,
        freeze_text_encoder: bool = True,
        text_encoder_lr: float | None = None,
        caption_dropout: float = 0.1,
        guidance_scale: float = 3.0,
        sampler: str = "ddim",
        sample_steps: int = 25,
        val_clips: int = 32,
        eval_seed: int = 0,
        fd_features: int = 32,
        i3d_path: str | None = None,
        grid_clips: int = 8,
        grid_scale: int = 3,
        fps: int = 4,
    ) -> None:
        super().__init__(model, optimizer, scheduler)
        require(
            text_encoder_lr is None or text_encoder_lr > 0,
            "task.text_encoder_lr",
            text_encoder_lr,
            "must be > 0, or null for the optimiser's learning rate",
        )
        require(0.0 <= caption_dropout < 1.0, "task.caption_dropout", caption_dropout, "must be in [0, 1)")
        require(
            guidance_scale >= 0.0, "task.guidance_scale", guidance_scale, "must be >= 0 (1 = no guidance)"
        )
        require(sampler in SAMPLERS, "task.sampler", sampler, f"must be one of {', '.join(SAMPLERS)}")
        require(
            1 <= sample_steps <= noise_scheduler.config.num_train_timesteps,
            "task.sample_steps",
            sample_steps,
            f"must be in 1..{noise_scheduler.config.num_train_timesteps} (the training timesteps)",
        )
        require(
            noise_scheduler.config.prediction_type in PREDICTIONS,
            "task.noise_scheduler.prediction_type",
            noise_scheduler.config.prediction_type,
            f"must be one of {', '.join(PREDICTIONS)}",
        )
        require(val_clips >= 2, "task.val_clips", val_clips, "must be >= 2 (retrieval needs several clips)")
        self.noise_scheduler = noise_scheduler
        self.freeze_text_encoder = freeze_text_encoder
        self.text_encoder_lr = text_encoder_lr
        self.caption_dropout = caption_dropout
        self.guidance_scale = guidance_scale
        self.sampler = sampler
        self.sample_steps = sample_steps
        self.val_clips = val_clips
        self.eval_seed = eval_seed
        self.fd_features = fd_features
        self.i3d_path = i3d_path
        self.grid_clips, self.grid_scale, self.fps = grid_clips, grid_scale, fps
        if freeze_text_encoder:
            model.text_encoder.requires_grad_(False)
        # Plain attributes, not buffers: the EMA callback copies the module before setup() fills them.
        self.captions: list[str] = []
        self._tokens: dict[str, torch.Tensor] | None = None
        self._cache: torch.Tensor | None = None
        self._outputs: dict[str, list[torch.Tensor]] = {}

    def optimizer_groups(self) -> list[nn.Parameter] | list[dict[str, Any]]:
        """A finetuned text encoder with `text_encoder_lr` gets its own parameter group: a pretrained
        transformer wants a much smaller step than a denoiser trained from scratch."""
        trainable = self.trainable_parameters()
        if self.freeze_text_encoder or self.text_encoder_lr is None:
            return trainable
        encoder = {id(p) for p in self.model.text_encoder.parameters()}
        return [
            {"params": [p for p in trainable if id(p) not in encoder]},
            {"params": [p for p in trainable if id(p) in encoder], "lr": self.text_encoder_lr},
        ]

    # ---- captions -------------------------------------------------------------------------------
    def set_captions(self, captions: list[str]) -> None:
        """Tokenise every caption once; a frozen encoder also encodes them once (the cache)."""
        self.captions = list(captions)
        self._tokens = self.model.text_encoder.tokenize(self.captions)
        self._cache = self.model.text_encoder.encode(self.captions) if self.freeze_text_encoder else None

    def setup(self, stage: str) -> None:
        info = self.data_info()
        if isinstance(info, SignDataInfo) and info.captions != self.captions:
            self.set_captions(info.captions)

    def text_states(self, caption_ids: torch.Tensor) -> torch.Tensor:
        """Text encoder token states of the captions with these indices (cached when frozen)."""
        if self._cache is not None:
            if self._cache.device != caption_ids.device:
                self._cache = self._cache.to(caption_ids.device)
            return self._cache[caption_ids]
        ids = self._tokens["input_ids"].to(caption_ids.device)[caption_ids]
        mask = self._tokens["attention_mask"].to(caption_ids.device)[caption_ids]
        return self.model.encode_text(ids, mask)

    # ---- diffusion ------------------------------------------------------------------------------
    def denoising_loss(
        self,
        clips: torch.Tensor,
        caption_ids: torch.Tensor,
        drop: torch.Tensor | None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """MSE of the prediction (noise, clean clip or velocity: the scheduler's `prediction_type`)
        at uniformly drawn timesteps."""
        b = clips.shape[0]
        steps = self.noise_scheduler.config.num_train_timesteps
        noise = torch.randn(clips.shape, generator=generator, device="cpu").to(clips.device)
        t = torch.randint(0, steps, (b,), generator=generator, device="cpu").to(clips.device)
        noisy = self.noise_scheduler.add_noise(clips, noise, t)
        context = self.model.context(self.text_states(caption_ids), drop)
        kind = self.noise_scheduler.config.prediction_type
        target = {"epsilon": noise, "sample": clips}.get(kind)
        if target is None:
            target = self.noise_scheduler.get_velocity(clips, noise, t)
        return F.mse_loss(self.model(noisy, t, context), target)

    def new_scheduler(self, sampler: str) -> Any:
        """A fresh DDIM or DDPM scheduler with the training noise schedule."""
        from diffusers import DDIMScheduler, DDPMScheduler

        cls = DDIMScheduler if sampler == "ddim" else DDPMScheduler
        return cls.from_config(self.noise_scheduler.config)

    @torch.no_grad()
    def sample(
        self,
        caption_ids: torch.Tensor,
        steps: int | None = None,
        sampler: str | None = None,
        guidance_scale: float | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Clips in [-1, 1] for these captions: `steps` denoising steps of `sampler` with classifier-free
        guidance eps = eps_uncond + w (eps_cond - eps_uncond); w = 1 is plain conditional sampling."""
        sampler = sampler or self.sampler
        guidance = self.guidance_scale if guidance_scale is None else guidance_scale
        scheduler = self.new_scheduler(sampler)
        scheduler.set_timesteps(steps or self.sample_steps)
        b = caption_ids.shape[0]
        device = caption_ids.device
        cond = self.model.context(self.text_states(caption_ids))
        context = torch.cat([cond, self.model.unconditional(b, cond.shape[1])]) if guidance != 1.0 else cond
        x = torch.randn((b, *self.model.clip_shape), generator=generator, device="cpu").to(device)
        for t in scheduler.timesteps:
            tt = t.to(device).expand(context.shape[0])
            eps = self.model(torch.cat([x, x]) if guidance != 1.0 else x, tt, context)
            if guidance != 1.0:
                eps_cond, eps_uncond = eps.chunk(2)
                eps = eps_uncond + guidance * (eps_cond - eps_uncond)
            x = scheduler.step(eps, t, x, generator=generator).prev_sample
        return x.clamp(-1, 1)

    # ---- steps ----------------------------------------------------------------------------------
    @staticmethod
    def _unpack(batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        video, caption_ids = batch
        return video.float() / 127.5 - 1.0, caption_ids

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        clips, caption_ids = self._unpack(batch)
        drop = torch.rand(clips.shape[0], device=clips.device) < self.caption_dropout
        loss = self.denoising_loss(clips, caption_ids, drop)
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=clips.shape[0])
        return loss

    def _eval_step(
        self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int, stage: str, limit: int | None
    ) -> None:
        clips, caption_ids = self._unpack(batch)
        seed = self.eval_seed * 100_003 + batch_idx
        loss = self.denoising_loss(clips, caption_ids, None, torch.Generator().manual_seed(seed))
        self.log(f"{stage}/loss", loss, on_epoch=True, batch_size=clips.shape[0])
        outputs = self._outputs.setdefault(stage, [])
        taken = sum(o.shape[0] for o in outputs[0::3]) if outputs else 0
        count = clips.shape[0] if limit is None else max(0, min(clips.shape[0], limit - taken))
        if count == 0:
            return
        fake = self.sample(caption_ids[:count], generator=torch.Generator().manual_seed(seed))
        outputs.extend([to_unit(fake).cpu(), to_unit(clips[:count]).cpu(), caption_ids[:count].cpu()])

    def inference(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """Clips for the batch's captions, as a user gets them: what the cost figures count and time."""
        _, caption_ids = batch
        return self.sample(caption_ids, generator=torch.Generator().manual_seed(self.eval_seed))

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._eval_step(batch, batch_idx, "val", self.val_clips)

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._eval_step(batch, batch_idx, "test", None)

    # ---- evaluation -----------------------------------------------------------------------------
    def _collected(self, stage: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
        outputs = self._outputs.pop(stage, [])
        if not outputs:
            return None
        return torch.cat(outputs[0::3]), torch.cat(outputs[1::3]), torch.cat(outputs[2::3])

    def on_validation_epoch_end(self) -> None:
        collected = self._collected("val")
        if collected is None or self.trainer.sanity_checking:
            return
        fake, real, captions = collected
        from ablab.families.text2sign.metrics import retrieval_accuracy

        accuracy, chance = retrieval_accuracy(fake, real, captions)
        self.log_dict({"val/retrieval_acc": accuracy, "val/retrieval_chance": chance}, prog_bar=True)
        self.save_grid(fake, real, captions, f"val_epoch{self.current_epoch:03d}")

    def on_test_epoch_end(self) -> None:
        collected = self._collected("test")
        if collected is None:
            return
        fake, real, captions = collected
        from ablab.families.text2sign import metrics as mv

        accuracy, chance = mv.retrieval_accuracy(fake, real, captions)
        ssim, psnr = mv.ssim_psnr(fake, real)
        extractor = mv.video_extractor(self.i3d_path, self.fd_features)
        values = {
            "test/retrieval_acc": accuracy,
            "test/retrieval_chance": chance,
            f"test/fd_{extractor.name}": mv.frechet_distance(extractor, real, fake),
            "test/ssim": ssim,
            "test/psnr": psnr,
            "test/temporal_consistency": mv.temporal_consistency(fake),
            "test/temporal_consistency_real": mv.temporal_consistency(real),
        }
        lpips, note = mv.lpips_metric()
        if lpips is None:
            print(note, file=sys.stderr)
        else:
            values["test/lpips"] = float(lpips(mv.frames_of(fake).clamp(0, 1), mv.frames_of(real)))
        self.log_dict(values)
        self.save_grid(fake, real, captions, "test")

    # ---- samples --------------------------------------------------------------------------------
    def save_grid(
        self, fake: torch.Tensor, real: torch.Tensor, captions: torch.Tensor, name: str
    ) -> Path | None:
        """A GIF (and MP4 where imageio can write one) of generated (top) over reference (bottom) clips
        with their captions, in <run>/samples/; logged as a W&B video when a W&B logger is present."""
        if self._trainer is None or not self.trainer.is_global_zero:
            return None
        frames = sample_grid(
            fake[: self.grid_clips],
            real[: self.grid_clips],
            [self.captions[int(c)] if self.captions else str(int(c)) for c in captions[: self.grid_clips]],
            self.grid_scale,
        )
        folder = Path(self.trainer.default_root_dir) / "samples"
        path = write_video(frames, folder / f"{name}.gif", self.fps)
        from lightning.pytorch.loggers import WandbLogger

        for logger in self.trainer.loggers:
            if isinstance(logger, WandbLogger):
                import wandb

                logger.experiment.log(
                    {
                        f"samples/{name.split('_')[0]}": wandb.Video(str(path), format="gif"),
                        "trainer/global_step": self.global_step,
                    }
                )
        return path


def sample_grid(fake: torch.Tensor, real: torch.Tensor, captions: list[str], scale: int = 3) -> np.ndarray:
    """(F, H', W', 3) uint8 frames: one column per clip, caption on top, generated over reference."""
    from PIL import Image, ImageDraw

    def frames_of(clips: torch.Tensor) -> np.ndarray:
        x = (clips.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 4, 1).numpy()  # B F H W C
        return x.repeat(scale, axis=2).repeat(scale, axis=3)

    top, bottom = frames_of(fake), frames_of(real)
    b, f, h, w, _ = top.shape
    label, gap = 12, 2
    grid = np.zeros((f, label + 2 * h + gap, b * (w + gap), 3), dtype=np.uint8)
    for i in range(b):
        x0 = i * (w + gap)
        grid[:, label : label + h, x0 : x0 + w] = top[i]
        grid[:, label + h + gap : label + 2 * h + gap, x0 : x0 + w] = bottom[i]
    banner = Image.new("RGB", (grid.shape[2], label))
    draw = ImageDraw.Draw(banner)
    for i, caption in enumerate(captions):
        draw.text((i * (w + gap) + 1, 0), caption[: max(1, w // 6)], fill=(255, 255, 255))
    grid[:, :label] = np.asarray(banner)[None]
    return grid


def write_video(frames: np.ndarray, path: Path, fps: int) -> Path:
    """Write (F, H, W, 3) uint8 frames as a looping GIF; also an MP4 beside it when imageio has an
    FFmpeg/PyAV backend (none is required)."""
    import imageio.v3 as iio

    path.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(path, frames, duration=1000 / fps, loop=0)
    try:
        iio.imwrite(path.with_suffix(".mp4"), frames, fps=fps)
    except Exception:
        path.with_suffix(".mp4").unlink(missing_ok=True)
    return path
