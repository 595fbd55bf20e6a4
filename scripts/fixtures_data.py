"""Writes the small .mat fixtures of the data-layer tests (fixtures/data/) with scipy.io.savemat,
in the layouts of the real files: Oxford Flowers-102 (imagelabels.mat, setid.mat) and the
Stanford Cars devkit (cars_*_annos*.mat, cars_meta.mat), plus one file of every supported type.

Run with Debian's Python (it has scipy): /usr/bin/python3 scripts/fixtures_data.py
The outputs are committed, so the tests do not need Python.
"""
import os

import numpy as np
import scipy.io

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'fixtures', 'data')


def save(rel, variables, compress=True):
    path = os.path.join(OUT, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    scipy.io.savemat(path, variables, do_compression=compress, oned_as='row')
    print('wrote', os.path.relpath(path))


def flowers():
    # 12 images, 3 classes; MATLAB's files hold 1xN doubles with 1-based labels and image ids.
    labels = np.array([[1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3]], dtype=np.float64)
    save('flowers/imagelabels.mat', {'labels': labels})
    save('flowers/setid.mat', {
        'trnid': np.array([[1, 5, 9]], dtype=np.float64),
        'valid': np.array([[2, 6, 10]], dtype=np.float64),
        'tstid': np.array([[3, 4, 7, 8, 11, 12]], dtype=np.float64),
    })
    # Label 0 does not exist (labels are 1-based).
    bad = labels.copy()
    bad[0, 4] = 0
    save('flowers_bad_label/imagelabels.mat', {'labels': bad})


def cars_annotations(rows):
    fields = ['bbox_x1', 'bbox_y1', 'bbox_x2', 'bbox_y2', 'class', 'fname']
    annos = np.zeros((1, len(rows)), dtype=[(f, 'O') for f in fields])
    for i, (box, cls, fname) in enumerate(rows):
        # The devkit stores these as small integer classes (uint8/uint16), as MATLAB compacted them.
        for f, v in zip(fields[:4], box):
            annos[f][0, i] = np.array([[v]], dtype=np.uint16)
        annos['class'][0, i] = np.array([[cls]], dtype=np.uint8)
        annos['fname'][0, i] = fname
    return {'annotations': annos}


def cars():
    save('cars/devkit/cars_meta.mat', {
        'class_names': np.array([['AM General Hummer SUV 2000', 'Acura RL Sedan 2012', 'Acura TL Sedan 2012']], dtype=object),
    })
    save('cars/devkit/cars_train_annos.mat', cars_annotations([
        ((1, 2, 30, 20), 1, '00001.jpg'),
        ((3, 1, 28, 22), 2, '00002.jpg'),
        ((2, 2, 31, 23), 3, '00003.jpg'),
        ((1, 1, 32, 24), 1, '00004.jpg'),
    ]))
    save('cars/cars_test_annos_withlabels.mat', cars_annotations([
        ((1, 1, 30, 20), 2, '00001.jpg'),
        ((2, 3, 29, 21), 3, '00002.jpg'),
    ]))
    # Class 4 does not exist: cars_meta.mat names three classes.
    save('cars_bad_label/devkit/cars_train_annos.mat', cars_annotations([((1, 2, 30, 20), 4, '00001.jpg')]))


def types(rel, compress):
    """One variable of each supported kind, read back and checked by test/data/mat.test.ts."""
    person = np.zeros((1, 2), dtype=[('name', 'O'), ('age', 'O')])
    person['name'][0, 0] = 'Ada'
    person['age'][0, 0] = np.array([[36]], dtype=np.float64)
    person['name'][0, 1] = 'Alan'
    person['age'][0, 1] = np.array([[41]], dtype=np.float64)
    cell = np.empty((1, 3), dtype=object)
    cell[0, 0] = 'one'
    cell[0, 1] = np.array([[2.5]])
    cell[0, 2] = np.zeros((0, 0))
    variables = {
        'dbl': np.array([[1.5, -2.0, 3.25], [4.0, 5.0, 6.0]]),  # 2x3, stored column-major
        'sgl': np.array([[0.5, 1.5]], dtype=np.float32),
        'i8': np.array([[-128, 127]], dtype=np.int8),
        'u8': np.array([[0, 255]], dtype=np.uint8),
        'i16': np.array([[-32768, 32767]], dtype=np.int16),
        'u16': np.array([[0, 65535]], dtype=np.uint16),
        'i32': np.array([[-2147483648, 2147483647]], dtype=np.int32),
        'u32': np.array([[0, 4294967295]], dtype=np.uint32),
        'i64': np.array([[-9007199254740993, 5]], dtype=np.int64),
        'u64': np.array([[18446744073709551615, 7]], dtype=np.uint64),
        'flag': np.array([[True, False, True]]),
        'cplx': np.array([[1 + 2j, 3 - 4j]]),
        'str': 'hello',
        'uni': 'Zürich ∑',
        'chars': np.array(['abc', 'xyz']),  # 2x3 char matrix
        'cell': cell,
        'person': person,
        'empty': np.zeros((0, 0)),
    }
    save(rel, variables, compress)


if __name__ == '__main__':
    flowers()
    cars()
    types('mat/types_compressed.mat', True)
    types('mat/types_plain.mat', False)
