"""Packaging for cmadepth: everything is read from nbdev's settings.ini."""
from configparser import ConfigParser
from pathlib import Path
import setuptools

cfg = ConfigParser(delimiters=['='])
cfg.read(Path(__file__).parent / 'settings.ini', encoding='utf-8')
cfg = cfg['DEFAULT']

def _list(key): return cfg.get(key, '').split()

setuptools.setup(
    name=cfg['lib_name'],
    version=cfg['version'],
    description=cfg['description'],
    long_description=Path('README.md').read_text(encoding='utf-8') if Path('README.md').exists() else '',
    long_description_content_type='text/markdown',
    author=cfg['author'],
    license='Apache-2.0',
    author_email=cfg['author_email'],
    keywords=cfg['keywords'].split(),
    url=cfg['git_url'],
    project_urls={'Source': cfg['git_url']},
    classifiers=[
        'Development Status :: 3 - Alpha',
        'Intended Audience :: Science/Research',
        'License :: OSI Approved :: Apache Software License',
        'Programming Language :: Python :: 3',
        'Topic :: Scientific/Engineering :: Artificial Intelligence',
        'Topic :: Scientific/Engineering :: Image Recognition',
    ],
    python_requires='>=' + cfg['min_python'],
    packages=setuptools.find_packages(include=[cfg['lib_name'], cfg['lib_name'] + '.*']),
    package_data={cfg['lib_name']: ['assets/*', 'assets/**/*']},
    include_package_data=True,
    install_requires=_list('requirements'),
    extras_require={'dev': _list('dev_requirements'), 'docs': _list('docs_requirements')},
    entry_points={
        'console_scripts': [s.strip() for s in cfg.get('console_scripts', '').splitlines() if s.strip()],
        'nbdev': [f"{cfg['lib_path']}={cfg['lib_path']}._modidx:d"],
    },
    zip_safe=False,
)
