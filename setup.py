"""Build hook: generate the gRPC/protobuf modules from protos/ whenever the package is built.

Generated code is never committed (alprfed/v1/*_pb2*.py). Every way of building the package --
`pip install .`, `pip install -e .`, `python -m build` for a wheel or an sdist -- runs build_py,
so running protoc there means a plain install always has the modules. `make protos` does the same
for a source checkout.
"""

from __future__ import annotations

import pathlib
import sys

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

ROOT = pathlib.Path(__file__).resolve().parent
PROTO_ROOT = ROOT / "protos"


def generate_protos() -> None:
    """Run protoc exactly as `make protos` does (-Iprotos, output into the source tree)."""
    from grpc_tools import protoc  # build requirement, see pyproject.toml

    protos = sorted(str(p.relative_to(PROTO_ROOT)) for p in PROTO_ROOT.rglob("*.proto"))
    if not protos:
        raise SystemExit("no .proto files found under protos/")
    well_known = pathlib.Path(protoc.__file__).parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{well_known}",
        f"--python_out={ROOT}",
        f"--pyi_out={ROOT}",
        f"--grpc_python_out={ROOT}",
        *protos,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")


class BuildPyWithProtos(build_py):
    def run(self) -> None:
        generate_protos()
        # The generated files did not exist when setuptools listed the modules; list them again.
        self.packages = self.distribution.packages
        super().run()


class SdistWithProtos(sdist):
    def run(self) -> None:
        generate_protos()
        super().run()


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    setup(
        packages=[
            *find_packages(include=["alprfed*", "agency_node*", "gateway*", "witness*"]),
            "alprfed.policies",
            "alprfed.policies.states",
            "alprfed.protos",
        ],
        # Documents shipped inside the package: the default policies, and the wire contract
        # (.proto files) for clients in other languages and for grpcurl.
        package_dir={"alprfed.policies": "policies", "alprfed.protos": "protos"},
        cmdclass={"build_py": BuildPyWithProtos, "sdist": SdistWithProtos},
    )
