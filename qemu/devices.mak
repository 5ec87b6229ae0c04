# The devices of the harness's ATS boot (qemu-system-aarch64, virt machine)
CONFIG_ARM_VIRT=y
CONFIG_PCIE_PORT=y
CONFIG_VIRTIO_PCI=y
CONFIG_VIRTIO_BLK=y
CONFIG_NVME_PCI=y
CONFIG_EDU=y
CONFIG_ATS_TESTDEV=y
# nvme needs the SPDM socket backend, "default y" only outside
# --without-default-devices (NVME_PCI does not select it in 10.0)
CONFIG_SPDM_SOCKET=y
