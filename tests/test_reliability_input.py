"""Bad input: random and mutated files, odd images, wrong arguments, CLI mistakes.

Every reader either succeeds or raises one of its documented exception types with a
message naming the file; images load correctly (converted, and said so once) or fail
naming the file and its row; the command line never shows a traceback for a user's
mistake (docs/reliability.md, "Bad input").
"""

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import deeprsa
from deeprsa import StimulusSet, load_config, read_layer_file
from deeprsa.cli import cli
from deeprsa.stimuli import ImageConversionWarning

FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

VALID_CONFIG = b'[stimuli]\nsource = "digits:test"\nn_per_class = 2\n\n[[models]]\nspec = "zoo:mlp_s0"\n'
VALID_CSV = b"path,label\na.png,0\nb.png,1\n"
VALID_META = b'[{"filename": "a.png", "class": 0}, {"filename": "b.png", "class": 1}]'
VALID_LAYERS = b'[{"model": "zoo:mlp_s0", "layer": "fc1"}, {"model": "zoo:mlp_s0", "layer": "fc2"}]'


def _mutations(valid: bytes):
    """Random bytes, and the valid file with bytes flipped, cut or inserted."""
    flipped = st.lists(st.tuples(st.integers(0, len(valid) - 1), st.integers(0, 255)),
                       min_size=1, max_size=6).map(
        lambda edits: bytes(_apply(valid, edits)))
    cut = st.integers(0, len(valid)).map(lambda n: valid[:n])
    inserted = st.tuples(st.integers(0, len(valid)), st.binary(min_size=1, max_size=12)).map(
        lambda t: valid[:t[0]] + t[1] + valid[t[0]:])
    return st.one_of(st.binary(max_size=200), flipped, cut, inserted)


def _apply(valid, edits):
    out = bytearray(valid)
    for i, b in edits:
        out[i] = b
    return out


def _check_reader(read, path, data, allowed):
    """``read(path)`` succeeds, or raises one of ``allowed`` with a message naming the file."""
    path.write_bytes(data)
    try:
        read(path)
    except allowed as err:
        assert path.name in str(err), f"{type(err).__name__} does not name the file: {err}"


@FUZZ
@given(data=_mutations(VALID_CONFIG))
def test_the_config_loader_names_the_file_for_any_bytes(tmp_path, data):
    _check_reader(load_config, tmp_path / "run.toml", data, (ValueError, FileNotFoundError))


@FUZZ
@given(data=_mutations(VALID_CSV))
def test_the_csv_stimulus_reader_names_the_file_for_any_bytes(tmp_path, data):
    _check_reader(StimulusSet.from_csv, tmp_path / "stimuli.csv", data,
                  (ValueError, FileNotFoundError))


@FUZZ
@given(data=_mutations(VALID_META))
def test_the_meta_json_reader_names_the_file_for_any_bytes(tmp_path, data):
    _check_reader(StimulusSet.from_meta_json, tmp_path / "meta.json", data,
                  (ValueError, FileNotFoundError))


@FUZZ
@given(data=_mutations(VALID_LAYERS))
def test_the_layer_file_reader_names_the_file_for_any_bytes(tmp_path, data):
    _check_reader(read_layer_file, tmp_path / "layers.json", data,
                  (ValueError, FileNotFoundError))


@FUZZ
@given(records=st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4), max_leaves=12))
def test_the_meta_json_reader_names_the_file_for_any_json(tmp_path, records):
    _check_reader(StimulusSet.from_meta_json, tmp_path / "meta.json",
                  json.dumps(records).encode(), (ValueError, FileNotFoundError))


def _rdm_files() -> dict:
    """Valid RDM files of 4 stimuli, as bytes, by suffix."""
    import io

    from scipy.io import savemat

    D = np.array([[0, 1, 2, 3], [1, 0, 4, 5], [2, 4, 0, 6], [3, 5, 6, 0]], dtype=float)
    files = {}
    for suffix, write in ((".npy", lambda f: np.save(f, D)),
                          (".npz", lambda f: np.savez(f, rdms=D[None])),
                          (".mat", lambda f: savemat(f, {"rdm": D}))):
        buffer = io.BytesIO()
        write(buffer)
        files[suffix] = buffer.getvalue()
    files[".csv"] = b",a,b,c,d\na,0,1,2,3\nb,1,0,4,5\nc,2,4,0,6\nd,3,5,6,0\n"
    return files


RDM_FILES = _rdm_files()


@FUZZ
@given(suffix=st.sampled_from(sorted(RDM_FILES)), data=st.data())
def test_the_rdm_file_readers_name_the_file_for_any_bytes(tmp_path, suffix, data):
    from deeprsa.rdm import load_rdms

    content = data.draw(_mutations(RDM_FILES[suffix]))
    labels = None if suffix == ".csv" else list("abcd")
    _check_reader(lambda path: load_rdms(path, stimulus_ids=labels), tmp_path / f"rdms{suffix}",
                  content, (ValueError, FileNotFoundError))


# ----------------------------------------------------------------------------- images


@pytest.fixture
def odd_images(tmp_path):
    """One file of each awkward kind, listed in a CSV (row order as named)."""
    from PIL import Image

    folder = tmp_path / "images"
    folder.mkdir()
    Image.fromarray(np.full((8, 8), 32768, np.uint16)).save(folder / "gray16.png")
    palette = Image.new("P", (8, 8))
    palette.putpalette([255, 0, 0] * 256)
    palette.save(folder / "palette.png")
    Image.new("RGBA", (8, 8), (255, 0, 0, 128)).save(folder / "rgba.png")
    Image.new("CMYK", (8, 8), (0, 255, 0, 0)).save(folder / "cmyk.jpg")
    Image.new("RGB", (8, 8), (10, 20, 30)).save(folder / "plain.jpg")
    jpeg = (folder / "plain.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(jpeg[:len(jpeg) // 2])
    Image.new("RGB", (8, 8)).save(folder / "bad_crc.png")
    png = bytearray((folder / "bad_crc.png").read_bytes())
    png[40] ^= 0xFF  # inside the IHDR chunk: its CRC no longer matches
    (folder / "bad_crc.png").write_bytes(bytes(png))
    (folder / "empty.png").write_bytes(b"")
    (folder / "folder.png").mkdir()
    names = ["gray16.png", "palette.png", "rgba.png", "cmyk.jpg", "plain.jpg", "truncated.jpg",
             "bad_crc.png", "empty.png", "folder.png"]
    (folder / "list.csv").write_text("path\n" + "\n".join(names) + "\n")
    return StimulusSet.from_csv(folder / "list.csv"), names


@pytest.mark.parametrize("name, mean, channels", [
    ("gray16.png", 32768 / 65535, 1),     # scaled by its full range, not saturated at 255
    ("palette.png", 1 / 3, 3),            # red
    ("rgba.png", (1 + 2 * 127 / 255) / 3, 3),  # half-transparent red on white
    ("cmyk.jpg", 2 / 3, 3),               # Pillow's CMYK -> RGB: magenta
    ("plain.jpg", None, 3),
], ids=["16-bit", "palette", "RGBA", "CMYK", "RGB"])
def test_odd_images_load_correctly(odd_images, name, mean, channels):
    stimuli, names = odd_images
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ImageConversionWarning)
        image = stimuli.load(names.index(name))
    assert image.shape == (channels, 8, 8)
    assert 0 <= float(image.min()) <= float(image.max()) <= 1
    if mean is not None:
        assert float(image.mean()) == pytest.approx(mean, abs=2 / 255)  # JPEG/rounding: 2/255


@pytest.mark.parametrize("name, why", [
    ("truncated.jpg", "cannot be read: "),
    ("bad_crc.png", "cannot be read: "),
    ("empty.png", "cannot be read: the file is empty (0 bytes)."),
    ("folder.png", "cannot be read: it is a directory, not an image file."),
], ids=["truncated JPEG", "bad CRC", "zero bytes", "directory"])
def test_unreadable_images_name_the_file_and_its_row(odd_images, name, why):
    stimuli, names = odd_images
    row = names.index(name)
    with pytest.raises(ValueError, match=re.escape(f"{name}' (row {row}, stimulus {name!r}) "
                                                   f"{why}")):
        stimuli.load(row)


def test_each_image_conversion_is_reported_once_per_stimulus_set(odd_images):
    stimuli, names = odd_images
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            for i in range(5):
                stimuli.load(i)
    messages = [str(w.message) for w in caught if w.category is ImageConversionWarning]
    assert len(messages) == 4  # 16-bit, palette, alpha, CMYK: once each, however often read
    assert any(m.startswith("16-bit grayscale images were scaled by 65535") for m in messages)
    assert any("composited on a white background" in m and "rgba.png" in m for m in messages)


def test_a_directory_in_a_stimulus_list_fails_its_content_hash_naming_it(odd_images):
    stimuli, names = odd_images
    with pytest.raises(ValueError, match=re.escape("folder.png' (row 8, stimulus 'folder.png') "
                                                   "cannot be read: it is a directory")):
        stimuli.content_hash()


# ----------------------------------------------------------------------------- arguments


@pytest.mark.parametrize("call, error, message", [
    (lambda: deeprsa.select_layers("zoo:resnet_s0", "top_level"), TypeError,
     "select_layers takes the layer table of a model (from list_layers), not the str "
     "'zoo:resnet_s0': write select_layers(list_layers('zoo:resnet_s0'), 'top_level')."),
    (lambda: deeprsa.compute_rdms(np.zeros((3, 3))), TypeError,
     "store must be a deeprsa Store or the path of one, got ndarray."),
    (lambda: deeprsa.multi_model_rdm(42), TypeError,
     "store must be a deeprsa Store or the path of one, got int."),
    (lambda: deeprsa.Store(["a", "b"]), TypeError,
     "A store is a directory: pass its path (str or Path), got list."),
    (lambda: deeprsa.compute_rdm(np.ones((4, 3)), nan_policy="drop"), ValueError,
     "Unknown nan_policy 'drop'. Available: 'omit', 'raise'."),
], ids=["model-for-table", "array-for-store", "int-for-store", "list-for-store-path",
        "nan-policy"])
def test_public_functions_say_what_they_got_and_what_they_take(call, error, message):
    with pytest.raises(error, match=re.escape(message)):
        call()


# ----------------------------------------------------------------------------- the CLI


@pytest.fixture(scope="module")
def small_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "store"
    stim = deeprsa.digits(split="test").sample(1, seed=0)
    deeprsa.extract("zoo:mlp_s0", stim, ["fc1", "fc2", "logits"], path, progress=False)
    deeprsa.compute_rdms(path, layer=["fc1", "fc2"], progress=False)
    return path


def _no_traceback(args, *, code=1, contains=None, **kwargs):
    result = CliRunner().invoke(cli, args, **kwargs)
    assert "Traceback" not in result.output
    assert result.exit_code == code, result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception,
                                                                     SystemExit)
    if contains:
        assert contains in result.output, result.output
    return result


def test_missing_timm_is_one_line(monkeypatch, tmp_path):
    import builtins

    real = builtins.__import__

    def no_timm(name, *args, **kwargs):
        if name == "timm" or name.startswith("timm."):
            raise ImportError("No module named 'timm'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_timm)
    _no_traceback(["layers", "timm:resnet18"],
                  contains='Error: The timm source needs the timm package: pip install '
                           '"deeprsa[timm]".')


def test_a_bad_module_import_is_one_line():
    _no_traceback(["layers", "module:no_such_package.nets:build"],
                  contains="Error: Cannot import 'no_such_package.nets' for model "
                           "'module:no_such_package.nets:build'")


def test_offline_trained_weights_fail_at_once_without_a_traceback(monkeypatch, tmp_path):
    import urllib.error

    import torchvision

    def offline(name, weights=None):
        if weights is not None:
            raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")
        return real(name, weights=None)

    real = torchvision.models.get_model
    monkeypatch.setattr(torchvision.models, "get_model", offline)
    _no_traceback(["extract", "--model", "torchvision:alexnet", "--weights", "trained",
                   "--stimuli", "digits:test", "--store", str(tmp_path / "s")],
                  contains="Error: Could not fetch the pretrained weights")
    assert not (tmp_path / "s").exists()  # nothing was written


def test_extract_never_downloads_unless_asked(monkeypatch, tmp_path):
    import torchvision

    from deeprsa.models import sources

    monkeypatch.setattr(sources, "_torchvision_cached", lambda name: False)
    monkeypatch.setattr(torchvision.models, "get_model", lambda *a, **k: pytest.fail(
        "the model was loaded (and its weights downloaded)"))
    _no_traceback(["extract", "--model", "torchvision:alexnet", "--stimuli", "digits:test",
                   "--store", str(tmp_path / "s")], code=2,
                  contains="The trained weights of torchvision:alexnet are not in the local "
                           "cache, and deeprsa downloads nothing unless asked: pass --weights "
                           "trained to download them")


def test_extract_uses_cached_trained_weights_without_asking(monkeypatch):
    from deeprsa.models import sources

    monkeypatch.setattr(sources, "_torchvision_cached", lambda name: True)
    assert sources.trained_weights_cached("torchvision:alexnet")
    assert sources.trained_weights_cached("zoo:mlp_s0")  # bundled: never a download
    assert sources.trained_weights_cached("module:pkg.nets:build")


def test_a_bad_layer_in_a_config_fails_before_any_extraction(tmp_path):
    config = tmp_path / "run.toml"
    config.write_text('[stimuli]\nsource = "digits:test"\nn_per_class = 1\n\n'
                      '[[models]]\nspec = "zoo:mlp_s0"\nlayers = ["fc1"]\n\n'
                      '[[models]]\nspec = "zoo:convnet_s0"\nlayers = ["conv9"]\n\n'
                      '[outputs]\ndir = "out"\n')
    _no_traceback(["run", str(config), "--no-progress"],
                  contains="models[1].layers")
    assert not (tmp_path / "out" / "store" / "activations").exists()


def test_a_damaged_manifest_is_one_line_naming_it(small_store, tmp_path):
    import shutil

    copy = tmp_path / "store"
    shutil.copytree(small_store, copy)
    text = (copy / "manifest.json").read_bytes()
    (copy / "manifest.json").write_bytes(text[:len(text) // 2])
    _no_traceback(["rdm", "--store", str(copy)],
                  contains=f"Error: Store {str(copy)!r}: manifest.json is damaged")


def test_a_read_only_store_reads_and_writes_its_tables_elsewhere(small_store, tmp_path,
                                                                  monkeypatch):
    # As on a read-only share: the directory cannot be written (tests run as root, for
    # whom every directory is writable, so os.access stands in for the permissions).
    import os

    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if mode == os.W_OK
                        and Path(p).resolve() == small_store.resolve() else real(p, mode))
    before = sorted(p.relative_to(small_store) for p in small_store.rglob("*"))
    monkeypatch.chdir(tmp_path)
    result = _no_traceback(["dimensionality", "--store", str(small_store)], code=0)
    assert "is read-only: the table goes to" in result.output
    assert (tmp_path / "deeprsa_tables" / "dimensionality.csv").exists()
    _no_traceback(["compare", "--store", str(small_store)], code=0,
                  contains="the comparisons are not saved in it")
    _no_traceback(["rdm", "--store", str(small_store)], code=0)  # logits: computed, not saved
    after = sorted(p.relative_to(small_store) for p in small_store.rglob("*"))
    assert after == before  # nothing written into the store
    with pytest.raises(deeprsa.store.ReadOnlyStoreError, match=re.escape(
            "is read-only (its directory is not writable); nothing can be written into it.")):
        deeprsa.Store(small_store).write("rdms", {"name": "x"}, np.eye(3))


def test_every_fix_an_error_prescribes_is_a_cli_option():
    # Options named in messages (`--name ...` in backticks or after "pass").
    src = Path(deeprsa.__file__).parent
    named = set()
    for path in src.rglob("*.py"):
        if "cli" in path.parts:
            continue
        named |= set(re.findall(r"`deeprsa [a-z-]+(?: [a-z-]+)? (--[a-z-]+)", path.read_text()))
        named |= set(re.findall(r"\((--[a-z-]+)[ )]", path.read_text()))
    options = set()

    def walk(command):
        for param in command.params:
            options.update(param.opts)
        for sub in getattr(command, "commands", {}).values():
            walk(sub)

    walk(cli)
    assert {"--stimuli-key", "--dtype", "--input-shape", "--nan-policy", "--weights",
            "--verify"} <= options
    assert named and named <= options, sorted(named - options)
