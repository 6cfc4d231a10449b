"""The one TOML-to-dataclass builder and the configs it fills."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from s2l_model.configs import from_table, merge_tables
from s2l_model.engine.config import load_preset
from s2l_model.errors import InputError
from s2l_model.fields.lip import LipFieldConfig
from s2l_model.models.config import ModelConfig


@dataclass(frozen=True)
class Inner:
    rate: float = 0.5
    on: bool = False


@dataclass(frozen=True)
class Outer:
    steps: int = 3
    name: str = "x"
    inner: Inner = field(default_factory=Inner)


def test_sub_tables_are_built_recursively_and_ints_are_fine_floats() -> None:
    built = from_table(Outer, {"steps": 7, "inner": {"rate": 2}}, "preset p", "train")
    assert built == Outer(steps=7, inner=Inner(rate=2.0))
    assert isinstance(built.inner.rate, float)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"stepz": 1}, "preset p [train]: unknown setting 'stepz'"),
        ({"inner": {"rat": 1.0}}, "preset p [train.inner]: unknown setting 'rat'"),
        ({"inner": 3}, "preset p: [train.inner] must be a table"),
        ({"steps": 1.5}, "steps must be int"),
        ({"steps": True}, "steps must be int"),  # a bool is never a number
        ({"inner": {"on": 1}}, "on must be bool"),
        ({"name": 4}, "name must be str"),
    ],
)
def test_wrong_tables_are_refused_by_name(table: dict, message: str) -> None:
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        from_table(Outer, table, "preset p", "train")


def test_merge_replaces_keys_and_merges_sub_tables() -> None:
    base = {"a": 1, "t": {"x": 1, "y": 2}}
    assert merge_tables(base, {"t": {"y": 3}, "b": 4}) == {"a": 1, "t": {"x": 1, "y": 3}, "b": 4}
    assert base == {"a": 1, "t": {"x": 1, "y": 2}}  # the base is not changed


def test_a_loss_weight_typo_in_a_users_preset_is_refused(tmp_path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('extends = "fast"\n[train.loss]\nsinc = 0.1\n')
    with pytest.raises(InputError, match=r"\[train.loss\]: unknown setting 'sinc'"):
        load_preset(str(bad))


def test_model_config_round_trips_through_a_profile_manifest_and_feeds_the_lip_field() -> None:
    config = load_preset("balanced").model
    assert ModelConfig.from_dict(config.to_dict()) == config
    lip = config.lip_field()
    assert isinstance(lip, LipFieldConfig)
    assert (lip.mlp_depth, lip.mlp_width, lip.frequencies) == (
        config.mlp_depth,
        config.mlp_width,
        config.frequencies,
    )


def test_profiles_from_before_the_blend_residual_blur_render_with_the_full_band_residual() -> None:
    config = load_preset("fast").model
    assert config.blend_residual_blur > 0  # the presets low-pass Blend-Net's residual
    old = config.to_dict()
    del old["blend_residual_blur"]  # a manifest written before the setting existed
    assert ModelConfig.from_dict(old).blend_residual_blur == 0.0  # as it was trained
    assert ModelConfig.from_dict(config.to_dict()).blend_residual_blur == config.blend_residual_blur
