"""The scene specification: frozen plain data that says everything Blender needs to render one
sample, and its JSON (the manifest's `spec`). `render.sampler` draws it from an explicit RNG,
`render.geometry` computes with it, `render.blender` only applies it; nothing here imports bpy.

World frame: z up, the ground is the plane z = 0, the camera stands at (0, 0, height) and looks
along +y, pitched down.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from render.poses import IDENTITY_ROTATION


@dataclass(frozen=True)
class CameraSpec:
    height: float  # metres above the ground
    pitch_deg: float  # below the horizon
    fov_deg: float  # both axes (square images)


@dataclass(frozen=True)
class LightSpec:
    """The sample's light (`render.config.LightRanges`). sun: a distant disk of `angle_deg`
    in the direction (azimuth, elevation); area: a `shape` light of `size` metres facing
    down, `distance` metres from the inserted object's foot in that direction; overcast: sky
    only (azimuth and elevation unused)."""

    kind: str  # sun | area | overcast
    azimuth_deg: float  # 0 = light coming from +y (behind the scene), counter-clockwise from above
    elevation_deg: float
    angle_deg: float  # sun: angular diameter
    ambient_fraction: float  # ambient / all light on a lit horizontal surface (overcast: 1)
    color: tuple[float, float, float]
    shape: str = ""  # area: rectangle | disk
    size: float = 0.0  # area: side or diameter, metres
    distance: float = 0.0  # area: from the inserted object's foot to the light's centre
    sky_level: float = 1.0  # overcast: sky brightness relative to the photo-matched level


@dataclass(frozen=True)
class MaterialSpec:
    """Used when a mesh brings no material of its own."""

    base_color: tuple[float, float, float]  # linear RGB in [0, 1]
    roughness: float
    metallic: float


@dataclass(frozen=True)
class ObjectSpec:
    role: str  # "inserted" or "occluder"
    mesh_id: str
    mesh_path: str
    pass_index: int
    x: float
    y: float
    yaw_deg: float
    size: float  # largest dimension of the unposed mesh in metres
    # The box of the normalised mesh (largest unposed dimension 1) in its pose, before yaw:
    # the object occupies [-x/2, x/2] x [-y/2, y/2] x [0, z] times size, turned by yaw.
    extent: tuple[float, float, float]
    material: MaterialSpec
    # The stable pose it rests in: row-major 3x3 rotation of the normalised mesh, applied
    # before yaw (`object_matrix`); the identity stands it upright as modelled.
    pose: tuple[float, ...] = IDENTITY_ROTATION


@dataclass(frozen=True)
class PanoramaView:
    """Which way a view of an equirectangular panorama looks (`render.panorama`): `yaw_deg`
    in [0, 360) is the panorama heading at the view's centre column (0 = the panorama's left
    edge, clockwise seen from above, as its columns run). Its pitch and field of view are the
    render camera's (`CameraSpec`): the photo is exactly what that camera sees."""

    yaw_deg: float


@dataclass(frozen=True)
class PhotoSpec:
    """The scene photo of a sample: a square crop of a photo, or, with `view`, a view
    reprojected from a panorama (then the crop and flip fields are 1, 0.5, 0.5, False)."""

    path: str
    crop_fraction: float  # side of the square crop / shorter side of the photo
    crop_x: float  # position of the crop in the free range, [0, 1]
    crop_y: float
    flip: bool
    # The camera's tone curve: scene radiance = (sRGB-decoded photo) ** (1 / tone_contrast), so
    # a shadow that removes a share s of the light darkens the photo as sRGB would s ** contrast
    # (camera curves are steeper than plain sRGB in the mid-tones). 1 = plain sRGB.
    tone_contrast: float = 1.0
    view: PanoramaView | None = None  # a panorama's view; None: a photo's crop


@dataclass(frozen=True)
class SceneSpec:
    index: int
    attempt: int
    seed: int
    size: int
    photo: PhotoSpec
    camera: CameraSpec
    light: LightSpec
    objects: tuple[ObjectSpec, ...]

    @property
    def inserted(self) -> ObjectSpec:
        return next(obj for obj in self.objects if obj.role == "inserted")

    @property
    def occluders(self) -> tuple[ObjectSpec, ...]:
        return tuple(obj for obj in self.objects if obj.role == "occluder")

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> SceneSpec:
        objects = tuple(
            ObjectSpec(**{**obj, "extent": tuple(obj["extent"]),
                          "pose": tuple(obj.get("pose", IDENTITY_ROTATION)),
                          "material": MaterialSpec(**{**obj["material"], "base_color": tuple(
                              obj["material"]["base_color"])})})
            for obj in data["objects"]
        )
        light = LightSpec(**{**data["light"], "color": tuple(data["light"]["color"])})
        view = data["photo"].get("view")  # manifests before panoramas have none
        photo = PhotoSpec(**{**data["photo"],
                             "view": None if view is None else PanoramaView(**view)})
        return cls(index=data["index"], attempt=data["attempt"], seed=data["seed"],
                   size=data["size"], photo=photo,
                   camera=CameraSpec(**data["camera"]), light=light, objects=objects)
