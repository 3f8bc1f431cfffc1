"""Video models of 26.2 (3D CNNs, I3D, two-stream, SlowFast) and 26.3 (video transformers).

One file per model family; the names exported here are the public API.
"""

# --- 26.2 action recognition (owned by the 26.2 files) -------------------------------------
from companion.models.c3d import C3D, c3d
from companion.models.conv3d import Conv3dUnfold, conv3d, conv3d_output_shape
from companion.models.frame_cnn import FrameCNN, SmallCNN2d, frame_cnn, small_cnn2d
from companion.models.inflate import I3D, InflatedConv3d, inflate, inflate_weight
from companion.models.resnet3d import (VideoResNet, mc3_18, r2plus1d_18, r2plus1d_mid_channels, r3d_18,
                                       video_resnet)
from companion.models.slowfast import SlowFast, lateral_output_shape, slowfast
from companion.models.two_stream import (StreamInputs, StreamLogits, TwoStream, TwoStreamClips,
                                         cross_modality_init, flow_stack, pack_two_stream, two_stream)

# --- 26.3 video transformers (owned by the 26.3 files) -------------------------------------
from companion.models.attention import (Block, MultiHeadSelfAttention, attention_matrix_macs,
                                        explicit_attention)
from companion.models.timesformer import DividedBlock, TimeSformer, timesformer
from companion.models.tubelets import (SpaceTimePositionEmbedding, TubeletEmbedding,
                                       inflate_patch_embedding, num_tokens, resize_spatial_pos,
                                       resize_temporal_pos, token_grid)
from companion.models.videomae import (VideoMAE, VideoMAEClassifier, VideoMAEEncoder,
                                       normalized_pixel_target, patchify, tube_mask, unpatchify,
                                       videomae, videomae_classifier)
from companion.models.vivit import ViViT, vivit
