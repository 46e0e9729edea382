from setuptools import find_packages, setup


def parse_requirements(path):
    """Requirement lines of ``path`` without comments and blank lines."""
    with open(path, encoding='utf-8') as f:
        return [line.split('#')[0].strip() for line in f
                if line.split('#')[0].strip() and not line.startswith('-r')]


def get_version():
    namespace = {}
    with open('sapsam/version.py', encoding='utf-8') as f:
        exec(f.read(), namespace)
    return namespace['__version__']


setup(
    name='sapsam',
    version=get_version(),
    description='Text-based person retrieval with SAP-SAM on MMEngine',
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    license='MIT',
    python_requires='>=3.9',
    packages=find_packages(exclude=('configs', 'tools', 'tests*', 'benchmarks')),
    include_package_data=True,
    install_requires=parse_requirements('requirements/runtime.txt'),
    extras_require={
        'tests': parse_requirements('requirements/tests.txt'),
        'optional': parse_requirements('requirements/optional.txt'),
        # tools/search_page.py runs on the standard library; its browser
        # test needs Playwright (with the system chromium).
        'search-page': ['playwright>=1.40'],
    },
)
