"""model: the ARShadowGAN-like network that adds an inserted object's cast shadow to a photo,
trained on Shadow-AR datasets; `shadow-model` (cli.py) is its command line. The design, the
metrics and the two evaluation protocols are described in docs/architecture.md.

What each module holds, in the order a run meets them:
- cli: the `shadow-model` verbs, built from config: one frozen dataclass per verb, each
  option declared once on its field (dataset_tools.options).
- data: Shadow-AR folders as torch datasets; shards: the same from pack's WebDataset shards;
  runtime: device, mixed precision, DDP.
- light: the light as network input; networks: attention U-Net, SG U-Net with refinement,
  discriminators, the inference graph; weights: pretrained encoder and VGG weights, from
  disk only.
- losses: Dice, region-weighted L2, perceptual, GAN; metrics: RMSE, SSIM, BER, IoU (numpy,
  with torch twins for training) and the desoba protocol's definitions; direction: the
  shadow direction error.
- train: the loop both blocks share; loaders, stats_log: its data and its log; runs: a run's
  life (its numbered folder, resume, what Ctrl-C leaves); train_attention, train_sg: what each
  block trains; visuals: their picture grids; checkpoint: save, load, resume; errors: a
  run's failure (the hierarchy and exit codes: dataset_tools.errors).
- pipeline: a trained pipeline loaded and run at any size; evaluate, predict, export: the
  verbs that use it; pretrained: the shipped model.
"""
