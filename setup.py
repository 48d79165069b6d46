"""Installation script for mmpeft."""
from pathlib import Path

from setuptools import find_packages, setup


def read_requirements(fname: str) -> list:
    lines = Path(__file__).with_name(fname).read_text().splitlines()
    return [ln.split('#')[0].strip() for ln in lines if ln.split('#')[0].strip()]


setup(
    name='mmpeft',
    version='0.1.0',
    description=('Parameter-efficient fine-tuning (Mona, VPT, HST) for OpenMMLab 2.0 dense '
                 'prediction'),
    long_description=Path(__file__).with_name('README.md').read_text(encoding='utf-8'),
    long_description_content_type='text/markdown',
    packages=find_packages(exclude=('tests', 'configs', 'tools')),
    python_requires='>=3.8',
    install_requires=read_requirements('requirements.txt'),
    extras_require={'tests': read_requirements('requirements-tests.txt')},
    license='Apache-2.0',
    zip_safe=False,
)
